"""A custom autograd Function's backward pass when that backward pass is itself differentiated."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["differentiable_backward"]


def differentiable_backward(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor | None],
    needs: Sequence[bool],
    grad_out: Tensor,
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
        The forward pass in plain operations, ``fn(*inputs) -> Tensor``.
    inputs : sequence of torch.Tensor or None
        The Function's saved inputs, as ``fn`` takes them.
    needs : sequence of bool
        ``ctx.needs_input_grad``: which inputs get a gradient (an entry past the end, or for
        a None input, gets None).
    grad_out : torch.Tensor
        The gradient reaching the output of ``fn``.

    Returns
    -------
    list of torch.Tensor or None
        One entry per input: its gradient, part of the graph, or None.
    """
    with torch.enable_grad():
        out = fn(*inputs)
    wanted = [i for i, t in enumerate(inputs) if t is not None and i < len(needs) and needs[i]]
    grads = torch.autograd.grad(
        out, [inputs[i] for i in wanted], grad_out, create_graph=True, allow_unused=True
    )
    result: list[Tensor | None] = [None] * len(inputs)
    for i, grad in zip(wanted, grads):
        result[i] = torch.zeros_like(inputs[i]) if grad is None else grad
    return result
