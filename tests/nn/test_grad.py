"""meshfield.nn._grad.differentiable_backward: gradients with a graph of their own, for one
output and for several."""

from __future__ import annotations

import torch

from meshfield.nn._grad import differentiable_backward


def test_gradients_of_one_output_can_be_differentiated_again() -> None:
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(5, dtype=torch.float64)
    gx, gw = differentiable_backward(lambda a, b: a.sin() * b, (x, w), (True, True), grad_out)
    torch.testing.assert_close(gx, grad_out * x.cos() * w)
    torch.testing.assert_close(gw, grad_out * x.sin())
    # part of the graph: d/dx of sum(gx) = -grad_out sin(x) w
    (second,) = torch.autograd.grad(gx.sum(), x)
    torch.testing.assert_close(second, -grad_out * x.sin() * w)


def test_several_outputs_take_one_gradient_each_and_none_where_none_reaches() -> None:
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    seg = torch.arange(4)  # an input that takes no gradient

    def both(a: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a.square() * ids, a.exp().sum()

    g_first = torch.randn(4, dtype=torch.float64)
    gx, gseg = differentiable_backward(both, (x, seg), (True, False), (g_first, None))
    torch.testing.assert_close(gx, 2 * x * seg * g_first)
    assert gseg is None
    g_second = torch.tensor(3.0, dtype=torch.float64)
    (gx,) = differentiable_backward(lambda a: both(a, seg), (x,), (True,), (g_first, g_second))
    torch.testing.assert_close(gx, 2 * x * seg * g_first + 3.0 * x.exp())
    assert gx.requires_grad
