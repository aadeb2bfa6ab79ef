"""Both scan directions of a BiMamba block as one autograd Function that saves only its input.

With ``checkpoint`` set, :class:`~meshfield.nn.ssm.BiMamba` mixes a long sequence through
:class:`BidirectionalRecompute`. Its forward pass runs both Mamba blocks without gradients,
block by block, keeping only the input, the scan state at every block boundary
(``[batch, nheads, headdim, d_state]``) and nothing per token. Its backward pass walks the
blocks of each direction in reverse scan order, recomputes one block with gradients from its
input and incoming state, and backpropagates the output gradient together with the gradient
of the state the block handed on. The gradients of both directions go into one input-gradient
buffer and one buffer per parameter.

Peak memory per token is therefore the input, the output and their two gradients, plus one
block of activations; values and gradients are those of the plain block up to rounding (the
test suite compares them). The CUDA kernels of ``mamba_ssm`` have their own fused path; this
one is for the torch backend.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from meshfield._chunks import spans

__all__ = ["BidirectionalRecompute", "bidirectional_recompute"]


def _pieces(length: int, block: int, reverse: bool) -> list[tuple[int, int]]:
    """``(start, stop)`` of every block, in the order the scan visits them."""
    pieces = [(part.start, part.stop) for part in spans(length, block)]
    return pieces[::-1] if reverse else pieces


class _Piece:
    """One block of one direction: its span, its convolution context, its segment ids."""

    def __init__(
        self,
        mixer: nn.Module,
        seq_idx: Tensor | None,
        span: tuple[int, int],
        previous: tuple[int, int] | None,
        reverse: bool,
    ) -> None:
        start, stop = span
        self.span = slice(start, stop)
        self.seg = None if seq_idx is None else seq_idx[:, start:stop]
        self.context = None
        self.context_seg = None
        self.keep = None  # [batch] 1 where the incoming state continues the same sequence
        history = mixer.d_conv - 1
        if previous is not None and history:
            # the d_conv - 1 tokens scanned just before this block
            self.context = (
                slice(previous[0], previous[0] + history)
                if reverse
                else slice(previous[1] - history, previous[1])
            )
            if seq_idx is not None:
                self.context_seg = seq_idx[:, self.context]
                first = self.seg[:, -1] if reverse else self.seg[:, 0]
                last = self.context_seg[:, 0] if reverse else self.context_seg[:, -1]
                self.keep = first == last

    def run(
        self,
        mixer: nn.Module,
        piece: Tensor,
        context: Tensor | None,
        state: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, Tensor]:
        """The block's output and the state it hands on."""
        if state is not None and self.keep is not None:
            state = state * self.keep.to(state.dtype)[:, None, None, None]
        return mixer._forward_piece(piece, self.seg, context, self.context_seg, state, reverse)


def _plan(
    mixer: nn.Module, seq_idx: Tensor | None, length: int, block: int, reverse: bool
) -> list[_Piece]:
    """The blocks of one direction, in the order its scan visits them."""
    pieces = [(part.start, part.stop) for part in spans(length, block)]
    if reverse:
        pieces.reverse()
    return [
        _Piece(mixer, seq_idx, span, pieces[k - 1] if k else None, reverse)
        for k, span in enumerate(pieces)
    ]


class BidirectionalRecompute(torch.autograd.Function):
    """``sum_k mixer_k(u, reverse=reverse_k)`` saving only ``u`` and the block-boundary states.

    Use through :func:`bidirectional_recompute`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        u: Tensor,
        seq_idx: Tensor | None,
        mixers: tuple[nn.Module, ...],
        reverses: tuple[bool, ...],
        block: int,
        *params: Tensor,
    ) -> Tensor:
        length = u.shape[1]
        out = None
        boundary_states: list[list[Tensor | None]] = []
        with torch.no_grad():
            for mixer, reverse in zip(mixers, reverses, strict=True):
                states: list[Tensor | None] = []
                state = None
                for piece in _plan(mixer, seq_idx, length, block, reverse):
                    states.append(state)
                    context = None if piece.context is None else u[:, piece.context]
                    piece_out, state = piece.run(mixer, u[:, piece.span], context, state, reverse)
                    if out is None:
                        out = u.new_zeros(u.shape[0], length, piece_out.shape[-1])
                    out[:, piece.span] += piece_out
                boundary_states.append(states)
        ctx.save_for_backward(u)
        ctx.seq_idx = seq_idx
        ctx.mixers = mixers
        ctx.reverses = reverses
        ctx.block = block
        ctx.boundary_states = boundary_states
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        (u,) = ctx.saved_tensors
        length = u.shape[1]
        grad_u = torch.zeros_like(u)
        param_grads: list[Tensor | None] = []
        for mixer, reverse, states in zip(
            ctx.mixers, ctx.reverses, ctx.boundary_states, strict=True
        ):
            params = list(mixer.parameters())
            summed: list[Tensor | None] = [None] * len(params)
            pieces = _plan(mixer, ctx.seq_idx, length, ctx.block, reverse)
            grad_state = None  # gradient of the state the later block received
            for piece, state_in in zip(pieces[::-1], states[::-1], strict=True):
                with torch.enable_grad():
                    leaves = [u[:, piece.span].detach().requires_grad_(True)]
                    if piece.context is not None:
                        leaves.append(u[:, piece.context].detach().requires_grad_(True))
                    if state_in is not None:
                        leaves.append(state_in.detach().requires_grad_(True))
                    context = leaves[1] if piece.context is not None else None
                    state = leaves[-1] if state_in is not None else None
                    piece_out, state_out = piece.run(mixer, leaves[0], context, state, reverse)
                    outputs, grads_out = [piece_out], [grad_out[:, piece.span]]
                    if grad_state is not None:
                        outputs.append(state_out)
                        grads_out.append(grad_state)
                    grads = torch.autograd.grad(
                        outputs, [*leaves, *params], grads_out, allow_unused=True
                    )
                if grads[0] is not None:
                    grad_u[:, piece.span] += grads[0]
                if piece.context is not None and grads[1] is not None:
                    grad_u[:, piece.context] += grads[1]
                grad_state = grads[len(leaves) - 1] if state_in is not None else None
                for i, g in enumerate(grads[len(leaves) :]):
                    if g is not None:
                        summed[i] = g if summed[i] is None else summed[i] + g
            param_grads.extend(summed)
        return (grad_u, None, None, None, None, *param_grads)


def bidirectional_recompute(
    u: Tensor,
    seq_idx: Tensor | None,
    mixers: tuple[nn.Module, ...],
    reverses: tuple[bool, ...],
    block: int,
) -> Tensor:
    """The sum of the mixers' outputs, recomputed block by block in the backward pass.

    Parameters
    ----------
    u : Tensor
        ``[batch, length, d_model]``.
    seq_idx : Tensor, optional
        ``[batch, length]`` segment ids (packed sequences).
    mixers : tuple of Mamba
        Torch-backend :class:`~meshfield.nn.ssm.Mamba` blocks (the same one twice when the
        directions share weights).
    reverses : tuple of bool
        Scan direction of each mixer.
    block : int
        Tokens per recomputed block.
    """
    params = [p for mixer in mixers for p in mixer.parameters()]
    return BidirectionalRecompute.apply(u, seq_idx, tuple(mixers), tuple(reverses), block, *params)
