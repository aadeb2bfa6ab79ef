from __future__ import annotations

import pytest
import torch
from torch import nn

from meshfield.nn.mlp import mlp_forward
from meshfield.testing import saved_numel


def _mlp(approximate: str = "none", dropout: float = 0.0, bias: bool = True) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 24, bias=bias),
        nn.GELU(approximate),
        nn.Dropout(dropout),
        nn.Linear(24, 6, bias=bias),
    ).double()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("bias", [True, False])
def test_same_values_and_gradients_as_the_module(approximate: str, bias: bool) -> None:
    mlp = _mlp(approximate, bias=bias)
    x = torch.randn(3, 7, 6, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda x: mlp_forward(mlp, x), (x,))
    out = mlp_forward(mlp, x)
    torch.testing.assert_close(out, mlp(x))
    params = list(mlp.parameters())
    got = torch.autograd.grad(out.sin().sum(), [x, *params])
    want = torch.autograd.grad(mlp(x).sin().sum(), [x, *params])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_second_derivatives() -> None:
    # a backward pass that is itself differentiated recomputes in plain operations
    mlp = _mlp()
    x = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    params = tuple(mlp.parameters())
    torch.autograd.gradgradcheck(lambda x, *p: mlp_forward(mlp, x), (x, *params))


def test_the_activation_is_not_kept() -> None:
    mlp = _mlp().float()
    x = torch.randn(1000, 6, requires_grad=True)
    plain = saved_numel(lambda: mlp(x))
    recomputed = saved_numel(lambda: mlp_forward(mlp, x))
    # input and pre-activation (and the parameters): the [1000, 24] activation is gone
    biases = mlp[0].bias.numel() + mlp[3].bias.numel()
    assert recomputed <= plain - 1000 * 24 + biases
    assert recomputed <= x.numel() + 1000 * 24 + sum(p.numel() for p in mlp.parameters())


def test_other_modules_and_active_dropout_run_as_they_are() -> None:
    x = torch.randn(50, 6, dtype=torch.float64, requires_grad=True)
    dropped = _mlp(dropout=0.5).train()
    torch.manual_seed(1)
    a = mlp_forward(dropped, x)
    torch.manual_seed(1)
    torch.testing.assert_close(a, dropped(x))
    assert (a != _mlp()(x)).any()  # the dropout did act
    relu = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 6)).double()
    torch.testing.assert_close(mlp_forward(relu, x), relu(x))
    # an idle dropout (eval mode) is skipped by the recomputing path, values unchanged
    dropped.eval()
    torch.testing.assert_close(mlp_forward(dropped, x), dropped(x))


def test_autocast_runs_the_module_as_it_is() -> None:
    mlp = _mlp().float()
    x = torch.randn(20, 6, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mlp_forward(mlp, x)
        expected = mlp(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected)
    out.float().sum().backward()  # the module's own backward, mixed dtypes and all
    assert x.grad is not None and torch.isfinite(x.grad).all()
