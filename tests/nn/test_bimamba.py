from __future__ import annotations

import pytest
import torch

from meshfield.nn.ssm import BiMamba, Mamba
from meshfield.testing.parity import assert_backend_parity


def small(**kwargs) -> BiMamba:
    torch.manual_seed(0)
    args = dict(d_state=4, headdim=8, backend="torch")
    args.update(kwargs)
    return BiMamba(16, **args).double()


@pytest.mark.parametrize("merge", ["sum", "concat"])
@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_shapes(merge, norm):
    block = small(merge=merge, norm=norm)
    assert block(torch.randn(3, 20, 16, dtype=torch.float64)).shape == (3, 20, 16)
    assert block(torch.randn(20, 16, dtype=torch.float64)).shape == (20, 16)
    assert block.mix(torch.randn(20, 16, dtype=torch.float64)).shape == (20, 16)
    assert block(torch.randn(2, 1, 16, dtype=torch.float64)).shape == (2, 1, 16)
    assert repr(block) == f"BiMamba(16, merge={merge!r})"


def test_flat_input_is_batch_of_one():
    block = small()
    x = torch.randn(25, 16, dtype=torch.float64)
    seq_idx = torch.tensor([0] * 10 + [1] * 15)
    torch.testing.assert_close(block(x, seq_idx), block(x[None], seq_idx[None])[0])


def test_forward_is_residual_of_mix():
    block = small()
    x = torch.randn(2, 20, 16, dtype=torch.float64)
    torch.testing.assert_close(block(x), x + block.mix(block.norm(x)))


def test_mix_is_forward_plus_flipped_backward():
    block = small()
    x = torch.randn(2, 20, 16, dtype=torch.float64)
    expected = block.mixer_forward(x) + block.mixer_backward(x.flip(1)).flip(1)
    torch.testing.assert_close(block.mix(x), expected)


def test_segments_stay_separate_in_both_directions():
    block = small()
    lengths = [7, 1, 12]
    seq_idx = torch.repeat_interleave(torch.arange(3), torch.tensor(lengths))[None]
    x = torch.randn(1, sum(lengths), 16, dtype=torch.float64)
    packed = block(x, seq_idx)
    start = 0
    for n in lengths:
        alone = block(x[:, start : start + n])
        torch.testing.assert_close(packed[:, start : start + n], alone, atol=1e-12, rtol=1e-12)
        start += n


def test_reversal_symmetry_with_shared_weights():
    block = small(share_weights=True)
    assert block.mixer_backward is None
    x = torch.randn(2, 33, 16, dtype=torch.float64)
    seq_idx = torch.tensor([[0] * 10 + [1] * 23, [0] * 33])
    torch.testing.assert_close(block(x.flip(1), seq_idx.flip(1)), block(x, seq_idx).flip(1))


def test_gradients_match_reference_backend():
    a = small(backend="torch", merge="concat")
    b = small(backend="reference", merge="concat")
    x = torch.randn(2, 21, 16, dtype=torch.float64)
    seq_idx = torch.tensor([[0] * 5 + [1] * 16, [0] * 21])
    assert_backend_parity(a, b, (x, seq_idx))


def test_checkpoint_matches():
    a = small()
    b = small(checkpoint=8)
    assert isinstance(b.mixer_forward, Mamba) and b.mixer_forward.checkpoint == 8
    x = torch.randn(2, 30, 16, dtype=torch.float64)
    assert_backend_parity(a, b, (x, torch.tensor([[0] * 8 + [1] * 22, [0] * 30])))


def test_bad_arguments():
    with pytest.raises(ValueError, match="merge"):
        BiMamba(16, merge="mean")
    with pytest.raises(ValueError, match="norm"):
        BiMamba(16, norm="batchnorm")
    block = small()
    with pytest.raises(ValueError, match=r"\[seqlen, 16\]"):
        block(torch.randn(4, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="'seq_idx'"):
        block(torch.randn(4, 16, dtype=torch.float64), torch.zeros(5, dtype=torch.long))


def test_timing_setups_run():
    from meshfield.nn.ssm.timing import setup_bimamba, setup_scan

    for backward in (False, True):
        call, extra = setup_bimamba(12, backward=backward, checkpoint=5, d_model=16, headdim=8)
        call()
        assert extra == {"tokens": 12}
        for impl in ("chunked", "reference"):
            call, _ = setup_scan(9, backward=backward, impl=impl, chunk_size=4, headdim=4)
            call()
