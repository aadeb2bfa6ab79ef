from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from meshfield.nn import FullAttention, LinearAttention, PatchAttention
from meshfield.serialize import patch

CHANNELS = 16
HEADS = 4


def _layers() -> list[torch.nn.Module]:
    return [
        PatchAttention(CHANNELS, HEADS, patch_size=8),
        PatchAttention(CHANNELS, HEADS, patch_size=8, shift=4),
        LinearAttention(CHANNELS, HEADS),
        FullAttention(CHANNELS, HEADS),
    ]


def _heads(t: torch.Tensor) -> torch.Tensor:
    # [L, D] -> [H, L, Dh]
    return t.view(t.size(0), HEADS, -1).transpose(0, 1)


def _naive_softmax(layer: torch.nn.Module, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Softmax attention with an explicit [L, L] mask of allowed (query, key) pairs."""
    q, k, v = (_heads(t) for t in layer.qkv(x).chunk(3, dim=-1))
    scores = q @ k.transpose(1, 2) / math.sqrt(q.size(-1))
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    return layer.proj(out.transpose(0, 1).reshape(x.size(0), -1))


@pytest.mark.parametrize("layer", _layers(), ids=repr)
def test_graphs_stay_apart(layer: torch.nn.Module) -> None:
    batch = torch.tensor([0] * 21 + [1] * 13)
    x = torch.randn(34, CHANNELS)
    out = layer(x, batch)
    assert out.shape == x.shape
    changed = x.clone()
    changed[21:] = torch.randn(13, CHANNELS)
    out_changed = layer(changed, batch)
    torch.testing.assert_close(out_changed[:21], out[:21], rtol=0, atol=0)
    assert not torch.allclose(out_changed[21:], out[21:])


@pytest.mark.parametrize("shift", [0, 3])
def test_patch_attention_matches_naive_reference(shift: int) -> None:
    layer = PatchAttention(CHANNELS, HEADS, patch_size=5, shift=shift)
    batch = torch.tensor([0] * 12 + [1] * 3 + [2] * 9)
    x = torch.randn(24, CHANNELS)
    patching = patch(batch, 5, shift=shift)
    assert bool(
        (patching.patch_batch[:, None] == batch[patching.index.clamp_min(0)])[patching.mask].all()
    )
    # tokens attend to exactly the tokens of their own patch
    patch_of = torch.full((24,), -1)
    for p in range(patching.index.size(0)):
        patch_of[patching.index[p][patching.mask[p]]] = p
    assert bool((patch_of >= 0).all())
    allowed = patch_of[:, None] == patch_of[None, :]
    torch.testing.assert_close(layer(x, batch), _naive_softmax(layer, x, allowed))


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 20), min_size=1, max_size=4),
    patch_size=st.integers(1, 9),
    shift=st.integers(0, 8),
)
def test_patch_attention_property(sizes: list[int], patch_size: int, shift: int) -> None:
    """Any graph sizes, patch size and shift: softmax over the own patch, never across graphs."""
    torch.manual_seed(0)
    layer = PatchAttention(CHANNELS, HEADS, patch_size=patch_size, shift=shift)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    x = torch.randn(batch.numel(), CHANNELS)
    patching = patch(batch, patch_size, shift=layer.shift)
    patch_of = torch.full((batch.numel(),), -1)
    for p in range(patching.index.size(0)):
        patch_of[patching.index[p][patching.mask[p]]] = p
    allowed = (patch_of[:, None] == patch_of[None, :]) & (batch[:, None] == batch[None, :])
    torch.testing.assert_close(layer(x, batch), _naive_softmax(layer, x, allowed))
    assert bool((patching.mask.sum(1) <= patch_size).all())


def test_patch_attention_shift_moves_borders() -> None:
    x = torch.randn(40, CHANNELS)
    plain = PatchAttention(CHANNELS, HEADS, patch_size=8)
    shifted = PatchAttention(CHANNELS, HEADS, patch_size=8, shift=4)
    shifted.load_state_dict(plain.state_dict())
    assert not torch.allclose(plain(x), shifted(x))


def test_one_patch_per_graph_is_full_attention() -> None:
    batch = torch.tensor([0] * 10 + [1] * 7)
    x = torch.randn(17, CHANNELS)
    local = PatchAttention(CHANNELS, HEADS, patch_size=16)
    full = FullAttention(CHANNELS, HEADS)
    full.load_state_dict(local.state_dict())
    torch.testing.assert_close(local(x, batch), full(x, batch))


def test_full_attention_is_block_diagonal_softmax() -> None:
    layer = FullAttention(CHANNELS, HEADS)
    batch = torch.tensor([1, 0, 0, 2, 1, 0, 2, 2, 2, 1])  # any order
    x = torch.randn(10, CHANNELS)
    allowed = batch[:, None] == batch[None, :]
    torch.testing.assert_close(layer(x, batch), _naive_softmax(layer, x, allowed))
    torch.testing.assert_close(
        layer(x), _naive_softmax(layer, x, torch.ones(10, 10, dtype=torch.bool))
    )


def test_full_attention_refuses_large_graphs() -> None:
    layer = FullAttention(CHANNELS, HEADS, max_tokens=16)
    layer(torch.randn(32, CHANNELS), torch.tensor([0] * 16 + [1] * 16))
    with pytest.raises(ValueError, match="max_tokens=16"):
        layer(torch.randn(17, CHANNELS))


def test_linear_attention_matches_quadratic_form() -> None:
    layer = LinearAttention(CHANNELS, HEADS)
    batch = torch.tensor([0] * 9 + [1] * 4 + [3] * 6)  # graph 2 is empty
    x = torch.randn(19, CHANNELS)
    q, k, v = (t.view(19, HEADS, -1) for t in layer.qkv(x).chunk(3, dim=-1))
    k, v = layer.norm_k(k).transpose(0, 1), layer.norm_v(v).transpose(0, 1)
    same = (batch[:, None] == batch[None, :]).to(x.dtype)
    weights = (q.transpose(0, 1) @ k.transpose(1, 2)) * same / same.sum(1, keepdim=True)
    expected = layer.proj((weights @ v).transpose(0, 1).reshape(19, -1))
    torch.testing.assert_close(layer(x, batch), expected)


@pytest.mark.parametrize("layer_type", [LinearAttention, FullAttention])
def test_token_order_does_not_matter_for_global_layers(layer_type: type) -> None:
    layer = layer_type(CHANNELS, HEADS)
    batch = torch.tensor([0] * 8 + [1] * 6)
    x = torch.randn(14, CHANNELS)
    perm = torch.randperm(14)
    torch.testing.assert_close(layer(x[perm], batch[perm]), layer(x, batch)[perm])


@pytest.mark.parametrize("layer", _layers(), ids=repr)
def test_float64_and_gradients(layer: torch.nn.Module) -> None:
    layer = layer.double()
    batch = torch.tensor([0] * 11 + [1] * 9)
    x = torch.randn(20, CHANNELS, dtype=torch.float64, requires_grad=True)
    out = layer(x, batch)
    assert out.dtype == torch.float64
    out.square().sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    for name, param in layer.named_parameters():
        assert param.grad is not None and bool(param.grad.abs().sum() > 0), name


def test_patch_attention_runs_with_precomputed_patching() -> None:
    layer = PatchAttention(CHANNELS, HEADS, patch_size=8, shift=4)
    batch = torch.tensor([0] * 11 + [1] * 9)
    x = torch.randn(20, CHANNELS)
    torch.testing.assert_close(layer(x, batch, patch(batch, 8, shift=4)), layer(x, batch))


def test_bad_input_is_rejected() -> None:
    layer = PatchAttention(CHANNELS, HEADS, patch_size=8)
    with pytest.raises(ValueError, match=r"shape \[L, 16\]"):
        layer(torch.randn(5, 8))
    with pytest.raises(ValueError, match="sequence order"):
        layer(torch.randn(3, CHANNELS), torch.tensor([1, 0, 1]))
    with pytest.raises(ValueError, match="'batch'"):
        LinearAttention(CHANNELS, HEADS)(torch.randn(3, CHANNELS), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="divisible"):
        FullAttention(CHANNELS, 3)


def test_repr() -> None:
    assert (
        repr(PatchAttention(16, 4, 8, 2))
        == "PatchAttention(16, num_heads=4, patch_size=8, shift=2)"
    )
    assert repr(LinearAttention(16, 2)) == "LinearAttention(16, num_heads=2)"
    assert repr(FullAttention(16)) == "FullAttention(16, num_heads=4, max_tokens=16384)"
