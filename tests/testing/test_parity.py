from __future__ import annotations

import pytest
import torch
from torch import nn

from meshfield.testing.parity import assert_backend_parity


class Scaled(nn.Module):
    def __init__(self, factor: float = 1.0) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.factor = factor

    def forward(self, x: torch.Tensor, *, shift: torch.Tensor | None = None) -> torch.Tensor:
        y = self.lin(x) * self.factor
        return y if shift is None else y + shift


def test_identical_modules_pass():
    a, b = Scaled().double(), Scaled().double()
    x = torch.randn(5, 4, dtype=torch.float64)
    assert_backend_parity(a, b, x)
    assert_backend_parity(a, b, [x])
    assert_backend_parity(a, b, {"x": x, "shift": torch.randn(5, 3, dtype=torch.float64)})


def test_state_is_copied_strictly():
    a, b = Scaled(), nn.Linear(4, 3)
    with pytest.raises(RuntimeError, match="state_dict"):
        assert_backend_parity(a, b, torch.randn(5, 4))


def test_different_outputs_fail_with_name():
    a, b = Scaled(1.0).double(), Scaled(1.001).double()
    with pytest.raises(AssertionError, match="output 0"):
        assert_backend_parity(a, b, torch.randn(5, 4, dtype=torch.float64))


def test_different_gradients_fail_with_name():
    class DetachedBias(Scaled):
        def forward(self, x, *, shift=None):
            return x @ self.lin.weight.T + self.lin.bias.detach()

    a, b = Scaled().double(), DetachedBias().double()
    with pytest.raises(AssertionError, match="parameter 'lin.bias'"):
        assert_backend_parity(a, b, torch.randn(5, 4, dtype=torch.float64))
    # outputs alone agree
    assert_backend_parity(a, b, torch.randn(5, 4, dtype=torch.float64), check_grad=False)


def test_tolerances_apply():
    a, b = Scaled(1.0), Scaled(1.0 + 1e-3)
    x = torch.randn(5, 4)
    with pytest.raises(AssertionError):
        assert_backend_parity(a, b, x)
    assert_backend_parity(a, b, x, atol=1e-2, rtol=1e-2)
