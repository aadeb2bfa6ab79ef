"""A custom autograd Function's backward pass when that backward pass is itself differentiated."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["differentiable_backward"]


def differentiable_backward(
    fn: Callable[..., Tensor | tuple[Tensor, ...]],
    inputs: Sequence[Tensor | None],
    needs: Sequence[bool],
    grad_out: Tensor | Sequence[Tensor | None],
) -> list[Tensor | None]:
    """Gradients of ``fn(*inputs)`` for the inputs in ``needs``, with a graph of their own.

    A hand-written backward pass that reuses tensors computed in the forward pass is right
    once, but wrong when differentiated again (``create_graph=True``): those tensors are
    constants to autograd. Inside such a backward pass (grad mode on), recomputing the forward
    pass from the saved inputs in plain operations and differentiating it is right at every
    order.

    Parameters
    ----------
    fn : callable
        The forward pass in plain operations, ``fn(*inputs)``: a tensor, or a tuple of them
        for a Function with several outputs.
    inputs : sequence of torch.Tensor or None
        The Function's saved inputs, as ``fn`` takes them.
    needs : sequence of bool
        ``ctx.needs_input_grad``: which inputs get a gradient (an entry past the end, or for
        a None input, gets None).
    grad_out : torch.Tensor or sequence of torch.Tensor or None
        The gradient reaching the output of ``fn``; one per output for a tuple (None for an
        output no gradient reaches).

    Returns
    -------
    list of torch.Tensor or None
        One entry per input: its gradient, part of the graph, or None.
    """
    with torch.enable_grad():
        out = fn(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    grads_out = tuple(grad_out) if isinstance(out, tuple) else (grad_out,)
    pairs = [(o, g) for o, g in zip(outs, grads_out, strict=True) if g is not None]
    wanted = [i for i, t in enumerate(inputs) if t is not None and i < len(needs) and needs[i]]
    grads = torch.autograd.grad(
        [o for o, _ in pairs],
        [inputs[i] for i in wanted],
        [g for _, g in pairs],
        create_graph=True,
        allow_unused=True,
    )
    result: list[Tensor | None] = [None] * len(inputs)
    for i, grad in zip(wanted, grads):
        result[i] = torch.zeros_like(inputs[i]) if grad is None else grad
    return result
