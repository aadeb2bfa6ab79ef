"""BiMamba's recomputing Function: the plain block's values and gradients, only its input saved."""

from __future__ import annotations

import copy

import pytest
import torch

from meshfield.nn.ssm import BiMamba
from meshfield.nn.ssm import recompute as recompute_module

D = 32
LENGTH = 300
BLOCK = 64


def _pair(share: bool) -> tuple[BiMamba, BiMamba]:
    """The same weights twice: recomputing in blocks of 64 tokens, and plain."""
    torch.manual_seed(0)
    blocked = BiMamba(
        D, d_state=8, headdim=16, backend="torch", checkpoint=BLOCK, share_weights=share
    ).double()
    with torch.no_grad():  # away from the initialization, so every parameter matters
        for p in blocked.parameters():
            p.add_(0.05 * torch.randn_like(p))
    plain = copy.deepcopy(blocked)
    for mixer in (plain.mixer_forward, plain.mixer_backward):
        if mixer is not None:
            mixer.checkpoint = 0
    return blocked, plain


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("packed", [False, True])
def test_same_values_and_gradients_as_the_plain_block(share: bool, packed: bool) -> None:
    blocked, plain = _pair(share)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, LENGTH, D, dtype=torch.float64, generator=generator)
    weight = torch.randn(2, LENGTH, D, dtype=torch.float64, generator=generator)
    seq_idx = None
    if packed:  # three sequences per row, boundaries inside and at the edges of blocks
        cuts = torch.tensor([BLOCK, 2 * BLOCK + 5])
        seq_idx = torch.bucketize(torch.arange(LENGTH), cuts, right=True).int()
        seq_idx = seq_idx.expand(2, LENGTH).contiguous()
    calls = []
    original = recompute_module.BidirectionalRecompute.backward

    def counted(ctx, grad):
        calls.append(1)
        return original(ctx, grad)

    recompute_module.BidirectionalRecompute.backward = staticmethod(counted)
    try:
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = blocked(xa, seq_idx), plain(xb, seq_idx)
        (ya * weight).sum().backward()
        (yb * weight).sum().backward()
    finally:
        recompute_module.BidirectionalRecompute.backward = original
    assert calls == [1]  # the blocked module went through the Function
    torch.testing.assert_close(ya, yb, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-9)
    for (name, pa), pb in zip(blocked.named_parameters(), plain.parameters(), strict=True):
        assert pa.grad is not None and pa.grad.abs().sum() > 0, name
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-8, atol=1e-9, msg=name)


def _saved_bytes(module: BiMamba, x: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of ``module(x)``."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return total


def test_saves_little_more_than_its_input() -> None:
    blocked, plain = _pair(share=False)
    for m in (plain.mixer_forward, plain.mixer_backward):
        m.checkpoint = BLOCK  # the per-direction checkpointing the Function replaces ...
    x = torch.randn(1, 8 * BLOCK, D, dtype=torch.float64, requires_grad=True)
    one_tensor = x.numel() * x.element_size()
    new = _saved_bytes(blocked, x)
    # LayerNorm keeps x, the Function keeps the normalized x (plus per-token LayerNorm
    # statistics and one state per block): about two copies of the input
    assert new <= 2.5 * one_tensor, new / one_tensor
    own_mix = blocked._mix
    # ... which keeps a copy of the input per direction and per block context besides
    blocked._mix = lambda h, s: (  # type: ignore[method-assign]
        plain.mixer_forward(h, s) + plain.mixer_backward(h, s, reverse=True)
    )
    try:
        old = _saved_bytes(blocked, x)
    finally:
        blocked._mix = own_mix  # type: ignore[method-assign]
    assert new < old


def test_short_sequences_and_inference_take_the_plain_path() -> None:
    blocked, _ = _pair(share=False)
    calls = []
    original = recompute_module.BidirectionalRecompute.forward

    def counted(ctx, *args):
        calls.append(1)
        return original(ctx, *args)

    recompute_module.BidirectionalRecompute.forward = staticmethod(counted)
    try:
        blocked(torch.randn(1, BLOCK, D, dtype=torch.float64, requires_grad=True))
        with torch.no_grad():
            blocked(torch.randn(1, 4 * BLOCK, D, dtype=torch.float64))
    finally:
        recompute_module.BidirectionalRecompute.forward = original
    assert calls == []
