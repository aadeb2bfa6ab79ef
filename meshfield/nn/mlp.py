"""Two-layer MLPs whose hidden activation is recomputed in the backward pass."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from meshfield.nn._grad import differentiable_backward

__all__ = ["mlp_forward"]


class _GeluMLP(torch.autograd.Function):
    # linear -> GELU -> linear keeping the input and the pre-activation only: autograd would
    # also keep the activation (as large as the pre-activation); the backward pass recomputes
    # it, one GELU of [tokens, hidden], to save a quarter of a width-4x MLP's memory

    @staticmethod
    def forward(ctx, x, weight1, bias1, weight2, bias2, approximate):  # type: ignore[override]
        hidden = F.linear(x, weight1, bias1)
        out = F.linear(F.gelu(hidden, approximate=approximate), weight2, bias2)
        ctx.save_for_backward(x, hidden, weight1, weight2, bias1, bias2)
        ctx.approximate = approximate
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        x, hidden, weight1, weight2, bias1, bias2 = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():  # this backward pass is differentiated in turn

            def plain(x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor, b2: Tensor | None):
                hidden = F.gelu(F.linear(x, w1, b1), approximate=ctx.approximate)
                return F.linear(hidden, w2, b2)

            inputs = (x, weight1, bias1, weight2, bias2)
            return (*differentiable_backward(plain, inputs, needs, grad_out), None)
        grad_out2 = grad_out.reshape(-1, grad_out.shape[-1])
        hidden2 = hidden.reshape(-1, hidden.shape[-1])
        grad_x = grad_w1 = grad_b1 = grad_w2 = grad_b2 = None
        if needs[3]:
            grad_w2 = grad_out2.t() @ F.gelu(hidden2, approximate=ctx.approximate)
        if needs[4] and bias2 is not None:
            grad_b2 = grad_out2.sum(0)
        grad_hidden = torch.ops.aten.gelu_backward(
            grad_out2 @ weight2, hidden2, approximate=ctx.approximate
        )
        if needs[1]:
            grad_w1 = grad_hidden.t() @ x.reshape(-1, x.shape[-1])
        if needs[2] and bias1 is not None:
            grad_b1 = grad_hidden.sum(0)
        if needs[0]:
            grad_x = (grad_hidden @ weight1).view(x.shape)
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2, None


def _gelu_mlp_layers(mlp: nn.Module) -> tuple[nn.Linear, nn.GELU, nn.Linear] | None:
    """The layers of ``Sequential(Linear, GELU, [Dropout(0)], Linear)``, else None."""
    if not isinstance(mlp, nn.Sequential):
        return None
    layers = [m for m in mlp if not (isinstance(m, nn.Dropout) and (m.p == 0 or not m.training))]
    if len(layers) != 3:
        return None
    first, act, second = layers
    if not (
        isinstance(first, nn.Linear) and isinstance(act, nn.GELU) and isinstance(second, nn.Linear)
    ):
        return None
    return first, act, second


def mlp_forward(mlp: nn.Module, x: Tensor) -> Tensor:
    """``mlp(x)``; a ``Sequential(Linear, GELU, Linear)`` (with an idle dropout between) under
    autograd keeps its input and pre-activation only, and recomputes the GELU backwards.

    Same values and gradients as ``mlp(x)``, second derivatives included; under
    ``torch.compile`` or autocast, without gradients, or for any other module it is ``mlp(x)``
    itself.

    Parameters
    ----------
    mlp : torch.nn.Module
        The MLP, typically ``Sequential(Linear(C, H), GELU(), Dropout(p), Linear(H, C))``.
    x : torch.Tensor
        Its input, ``[..., C]``.

    Returns
    -------
    torch.Tensor
        ``mlp(x)``, ``[..., C_out]``.

    Example
    -------
    >>> mlp = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 8))
    >>> x = torch.randn(5, 8, requires_grad=True)
    >>> torch.allclose(mlp_forward(mlp, x), mlp(x))
    True
    """
    layers = _gelu_mlp_layers(mlp)
    if (
        layers is None
        or not torch.is_grad_enabled()
        or torch.compiler.is_compiling()
        or torch.is_autocast_enabled(x.device.type)
    ):
        return mlp(x)
    first, act, second = layers
    return _GeluMLP.apply(
        x, first.weight, first.bias, second.weight, second.bias, act.approximate
    )
