from __future__ import annotations

import copy
import json

import pytest
import torch

from meshfield.nn import (
    BackboneConfig,
    BiMamba,
    FullAttention,
    HybridBackbone,
    HybridBlock,
    LinearAttention,
    MambaConfig,
    PatchAttention,
)
from meshfield.serialize import serialize
from meshfield.testing import assert_permutation_equivariant

D = 16
SMALL_MAMBA = MambaConfig(d_state=8, headdim=8, chunk_size=16, backend="torch")


def _config(**options: object) -> BackboneConfig:
    values: dict[str, object] = {
        "d_model": D,
        "patch_size": 16,
        "num_heads": 2,
        "mamba": SMALL_MAMBA,
    }
    values.update(options)
    return BackboneConfig(**values)


def _two_graphs(
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    sizes = (70, 45)
    pos = torch.rand(sum(sizes), 2, dtype=dtype)
    batch = torch.repeat_interleave(torch.arange(2), torch.tensor(sizes))
    x = torch.randn(sum(sizes), D, dtype=dtype)
    return x, pos, batch


CASES = [
    {"pattern": "M"},
    {"pattern": "A"},
    {"pattern": "MMAMMA"},
    {"pattern": "MA", "attention": "linear"},
    {"pattern": "AM", "attention": "full"},
]


def test_config_is_recorded_and_round_trips_through_json() -> None:
    cfg = _config(pattern="MA", d_cond=3, curves=("z", "hilbert"))
    model = HybridBackbone.from_config(cfg)
    assert model.config is cfg
    restored = BackboneConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert restored == cfg
    assert isinstance(restored.mamba, MambaConfig)
    again = HybridBackbone.from_config(cfg.to_dict())
    again.load_state_dict(model.state_dict())
    assert HybridBackbone(cfg, pattern="M").config.pattern == "M"
    assert HybridBackbone(d_model=D, num_heads=2, mamba=SMALL_MAMBA).config.pattern == "MMAMMA"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"pattern": "MXA"}, "pattern"),
        ({"pattern": ""}, "pattern"),
        ({"attention": "softmax"}, "attention"),
        ({"curves": ("peano",)}, "curves"),
        ({"curves": ()}, "curves"),
        ({"num_heads": 3}, "num_heads"),
        ({"mamba": MambaConfig(headdim=12)}, "headdim"),
        ({"dropout": 1.0}, "dropout"),
        ({"d_cond": -1}, "d_cond"),
    ],
)
def test_config_rejects_bad_values(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _config(**options)


def test_blocks_follow_pattern_curves_and_shifts() -> None:
    model = HybridBackbone(_config(pattern="MMAMMAA"))
    mixers = [block.mixer for block in model.blocks]
    assert [block.kind for block in model.blocks] == list("MMAMMAA")
    assert all(isinstance(m, BiMamba) for m in (mixers[0], mixers[1], mixers[3], mixers[4]))
    assert [m.shift for m in (mixers[2], mixers[5], mixers[6])] == [0, 8, 0]
    assert [model.config.curve_of(i) for i in range(6)] == [
        "hilbert",
        "hilbert-trans",
        "z",
        "z-trans",
        "hilbert",
        "hilbert-trans",
    ]
    assert model.curves_used == ("hilbert", "hilbert-trans", "z", "z-trans")
    unshifted = HybridBackbone(_config(pattern="AA", shift_patches=False))
    assert [block.mixer.shift for block in unshifted.blocks] == [0, 0]
    assert isinstance(
        HybridBackbone(_config(pattern="A", attention="linear")).blocks[0].mixer, LinearAttention
    )
    assert isinstance(
        HybridBackbone(_config(pattern="A", attention="full")).blocks[0].mixer, FullAttention
    )


def test_forward_matches_block_by_block_reference() -> None:
    """The composed gathers between curves equal serializing and scattering every block."""
    model = HybridBackbone(_config(pattern="MAMA", curves=("hilbert", "hilbert", "z")))
    x, pos, batch = _two_graphs()
    expected = x
    for layer, block in enumerate(model.blocks):
        ser = serialize(pos, batch, curve=model.config.curve_of(layer))
        expected = block(expected[ser.order], batch[ser.order])[ser.inverse]
    torch.testing.assert_close(model(x, pos, batch), expected)


@pytest.mark.parametrize("options", CASES, ids=lambda o: "-".join(map(str, o.values())))
def test_permutation_equivariant(options: dict[str, object]) -> None:
    model = HybridBackbone(_config(**options))
    x, pos, batch = _two_graphs()
    assert_permutation_equivariant(model, {"x": x, "pos": pos, "batch": batch}, atol=1e-5)


def test_permutation_equivariant_with_conditioning() -> None:
    model = HybridBackbone(_config(pattern="MA", d_cond=3))
    _open_gates(model)
    x, pos, batch = _two_graphs()
    inputs = {"x": x, "pos": pos, "batch": batch, "cond": torch.randn(2, 3)}
    assert_permutation_equivariant(model, inputs, node_keys=["x", "pos", "batch"])


@pytest.mark.parametrize("options", CASES, ids=lambda o: "-".join(map(str, o.values())))
def test_batched_graphs_equal_separate_graphs(options: dict[str, object]) -> None:
    model = HybridBackbone(_config(**options)).eval()
    x, pos, batch = _two_graphs()
    together = model(x, pos, batch)
    for graph in range(2):
        nodes = batch == graph
        torch.testing.assert_close(
            together[nodes], model(x[nodes], pos[nodes]), atol=1e-5, rtol=1e-5
        )


def test_graphs_do_not_see_each_other() -> None:
    model = HybridBackbone(_config(pattern="MMAMMA"))
    x, pos, batch = _two_graphs()
    out = model(x, pos, batch)
    other = x.clone()
    other[batch == 1] += 1.0
    torch.testing.assert_close(model(other, pos, batch)[batch == 0], out[batch == 0])


def test_conditioned_backbone_starts_as_identity() -> None:
    model = HybridBackbone(_config(pattern="MMAMMA", d_cond=4))
    x, pos, batch = _two_graphs()
    torch.testing.assert_close(model(x, pos, batch, torch.randn(2, 4)), x, rtol=0, atol=0)


def _open_gates(model: HybridBackbone) -> None:
    """One optimizer step so the zero-initialized adaLN projections leave zero."""
    dtype = next(model.parameters()).dtype
    x, pos, batch = _two_graphs(dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    cond = torch.randn(2, model.config.d_cond, dtype=dtype)
    loss = (model(x, pos, batch, cond) - x.flip(0)).square().mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def test_conditioning_changes_output_after_a_training_step() -> None:
    model = HybridBackbone(_config(pattern="MA", d_cond=4))
    x, pos, batch = _two_graphs()
    cond_a, cond_b = torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(model(x, pos, batch, cond_a), model(x, pos, batch, cond_b))
    _open_gates(model)
    with torch.no_grad():
        out_a, out_b = model(x, pos, batch, cond_a), model(x, pos, batch, cond_b)
    assert (out_a - out_b).abs().max() > 1e-4
    # changing only graph 1's conditions leaves graph 0 alone
    cond_c = cond_a.clone()
    cond_c[1] = cond_b[1]
    with torch.no_grad():
        torch.testing.assert_close(model(x, pos, batch, cond_c)[batch == 0], out_a[batch == 0])


@pytest.mark.parametrize("d_cond", [0, 3])
def test_gradients_reach_every_parameter(d_cond: int) -> None:
    model = HybridBackbone(_config(pattern="MMAMMA", d_cond=d_cond))
    cond = torch.randn(2, d_cond) if d_cond else None
    if d_cond:
        _open_gates(model)  # at initialization the closed gates block the branch gradients
    x, pos, batch = _two_graphs()
    x.requires_grad_(True)
    model(x, pos, batch, cond).square().sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert bool(param.grad.abs().sum() > 0), name


def test_float64_computes_what_float32_does() -> None:
    # the same weights in double precision give the float32 output to float32 accuracy: every
    # block (scans, attention, gathers along the curves) runs in the parameters' dtype, and
    # nothing in the pass depends on the precision beyond rounding
    model = HybridBackbone(_config(pattern="MMAMMA", d_cond=2))
    _open_gates(model)
    x, pos, batch = _two_graphs()
    cond = torch.randn(2, 2)
    with torch.no_grad():
        out32 = model(x, pos, batch, cond)
        double = copy.deepcopy(model).double()
        out64 = double(x.double(), pos.double(), batch, cond.double())
    assert out64.dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in double.parameters())
    # compare what the blocks add to the input, not only the output (mostly the input itself)
    added32, added64 = out32 - x, out64 - x.double()
    assert added64.abs().max() > 1e-3  # the blocks act: the comparison is not of zeros
    torch.testing.assert_close(added64, added32.double(), rtol=1e-4, atol=2e-5)


def test_precomputed_serializations() -> None:
    model = HybridBackbone(_config(pattern="MAMA"))
    x, pos, batch = _two_graphs()
    serializations = model.serialize(pos, batch)
    assert tuple(serializations) == model.curves_used
    expected = model(x, pos, batch)
    torch.testing.assert_close(model(x, None, batch, serializations=serializations), expected)
    torch.testing.assert_close(
        model(x, pos, batch, serializations=list(serializations.values())), expected
    )
    partial = {"hilbert": serializations["hilbert"]}
    torch.testing.assert_close(model(x, pos, batch, serializations=partial), expected)
    with pytest.raises(ValueError, match="'pos' is required"):
        model(x, None, batch, serializations=partial)
    with pytest.raises(ValueError, match="order 115 nodes"):
        model(x, pos, batch, serializations={"hilbert": serialize(pos[:10])})


def test_plan_made_once_gives_the_same_pass() -> None:
    # the per-mesh plan (orders, gathers, patches) reused over steps changes nothing
    torch.manual_seed(0)
    model = HybridBackbone(_config(pattern="MAMA", d_cond=4))
    x, pos, batch = _two_graphs()
    cond = torch.randn(2, 4)
    for block in model.blocks:  # adaLN-Zero starts as the identity: make the blocks act
        for param in block.adaln.parameters():
            torch.nn.init.normal_(param, std=0.2)
    plan = model.plan(pos, batch)
    assert plan.num_nodes == 115 and len(plan.blocks) == 4
    # a gather only where the curve changes, patches only for attention blocks
    curves = [model.config.curve_of(i) for i in range(4)]
    assert [s.gather is not None for s in plan.blocks] == [
        i == 0 or curves[i] != curves[i - 1] for i in range(4)
    ]
    assert [s.patching is not None for s in plan.blocks] == [False, True, False, True]
    expected = model(x, pos, batch, cond)
    x2 = torch.randn_like(x)
    torch.testing.assert_close(model(x, None, batch, cond, plan=plan), expected)
    torch.testing.assert_close(model(x2, None, batch, cond, plan=plan), model(x2, pos, batch, cond))
    with pytest.raises(ValueError, match="made for 115 nodes"):
        model(x[:10], None, None, cond, plan=plan)


def test_bad_inputs_are_rejected() -> None:
    model = HybridBackbone(_config(pattern="MA"))
    x, pos, batch = _two_graphs()
    with pytest.raises(ValueError, match=r"'x' tensor with shape \[num_nodes, 16\]"):
        model(x[:, :8], pos, batch)
    with pytest.raises(ValueError, match="'pos'"):
        model(x, pos[:5], batch)
    with pytest.raises(ValueError, match="d_cond=0"):
        model(x, pos, batch, torch.randn(2, 3))
    conditioned = HybridBackbone(_config(pattern="MA", d_cond=3))
    with pytest.raises(ValueError, match=r"'cond' tensor with shape \[2, 3\]"):
        conditioned(x, pos, batch)
    with pytest.raises(ValueError, match=r"'cond' tensor with shape \[2, 3\]"):
        conditioned(x, pos, batch, torch.randn(1, 3))


def test_hybrid_block_on_its_own() -> None:
    block = HybridBlock(PatchAttention(D, 2, patch_size=8), D, mlp_ratio=0)
    assert block.mlp is None
    x = torch.randn(20, D)
    assert block(x).shape == (20, D)
    with pytest.raises(TypeError, match="mixer"):
        HybridBlock(torch.nn.Linear(D, D), D)
    conditioned = HybridBlock(LinearAttention(D, 2), D, cond_channels=2)
    with pytest.raises(ValueError, match="expects 'cond'"):
        conditioned(x)


def test_repr() -> None:
    model = HybridBackbone(_config(pattern="MA", curves=("z",)))
    assert (
        repr(model)
        == "HybridBackbone(16, pattern='MA', attention='patch', curves=('z',), d_cond=0)"
    )
    assert repr(model.blocks[1]) == (
        "HybridBlock(PatchAttention(16, num_heads=2, patch_size=16, shift=0), "
        "mlp_ratio=4.0, cond_channels=0)"
    )


def test_mamba_checkpointing_gives_the_same_values_and_gradients() -> None:
    plain = HybridBackbone(_config(pattern="M"))
    chunked = HybridBackbone(
        _config(pattern="M", mamba=MambaConfig(**{**SMALL_MAMBA.__dict__, "checkpoint": 32}))
    )
    chunked.load_state_dict(plain.state_dict())
    x, pos, batch = _two_graphs()
    out_plain, out_chunked = plain(x, pos, batch), chunked(x, pos, batch)
    torch.testing.assert_close(out_chunked, out_plain)
    out_plain.square().sum().backward()
    out_chunked.square().sum().backward()
    for (name, a), b in zip(plain.named_parameters(), chunked.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-4, msg=name)


@pytest.mark.parametrize("batched", [False, True])
def test_blocked_inference_gives_the_same_values(
    monkeypatch: pytest.MonkeyPatch, batched: bool
) -> None:
    # without gradients the MLP branches (and the Mamba scans) run in blocks of tokens
    import meshfield.nn.backbone as backbone

    torch.manual_seed(0)
    model = HybridBackbone(_config(pattern="MA", d_cond=3))
    for p in model.parameters():  # leave the adaLN-Zero start, where the gates are zero
        torch.nn.init.normal_(p, std=0.2)
    x, pos, batch = _two_graphs()
    batch = batch if batched else None
    cond = torch.randn(2 if batched else 1, 3)
    with torch.enable_grad():
        expected = model(x, pos, batch, cond).detach()
    monkeypatch.setattr(backbone, "MLP_INFERENCE_BLOCK", 16)
    for block in model.blocks:
        if block.kind == "M":
            block.mixer.mixer_forward.inference_block = 24
            block.mixer.mixer_backward.inference_block = 24
    rows = []
    hook = model.blocks[0].mlp.register_forward_hook(lambda m, i, o: rows.append(len(i[0])))
    with torch.no_grad():
        got = model(x, pos, batch, cond)
    hook.remove()
    assert max(rows) == 16 and sum(rows) == len(x)  # the blocked path ran
    torch.testing.assert_close(got, expected)


def test_nn_exports_load_without_cuda_kernels() -> None:
    import subprocess
    import sys

    # PyG imports Triton itself where it is installed (the CUDA build of torch brings it):
    # what counts is what meshfield loads beyond its dependencies
    code = (
        "import sys, torch, torch_geometric\n"
        "def cuda(): return {m for m in sys.modules if m.split('.')[0] in ('mamba_ssm', 'triton')}\n"
        "before = cuda()\n"
        "import meshfield.nn as nn\n"
        "[getattr(nn, name) for name in nn.__all__]\n"
        "added = sorted(cuda() - before)\n"
        "assert not added, added\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_serializations_stored_by_the_transform() -> None:
    from torch_geometric.data import Batch, Data

    from meshfield.serialize import Serialize

    model = HybridBackbone(_config(pattern="MAMA"))
    x, pos, batch = _two_graphs()
    graphs = [Serialize()(Data(pos=pos[batch == g])) for g in range(2)]
    stored = Batch.from_data_list(graphs)
    expected = model(x, pos, batch)
    torch.testing.assert_close(model(x, None, stored.batch, serializations=stored), expected)
