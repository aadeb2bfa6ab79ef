"""Finite differences in time: exactness on polynomials and orders on uniform/non-uniform frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from meshfield.physics import time_derivative
from meshfield.physics.time import fd_weights, time_stencil


def test_fornberg_weights_match_textbook_stencils() -> None:
    np.testing.assert_allclose(fd_weights(0.0, np.array([-1.0, 0.0, 1.0]), 1), [-0.5, 0.0, 0.5])
    np.testing.assert_allclose(fd_weights(0.0, np.array([-1.0, 0.0, 1.0]), 2), [1.0, -2.0, 1.0])
    np.testing.assert_allclose(fd_weights(0.0, np.array([0.0, 1.0, 2.0]), 1), [-1.5, 2.0, -0.5])


@pytest.mark.parametrize(("derivative", "order"), [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_exact_on_polynomials(derivative: int, order: int) -> None:
    times = torch.tensor([0.0, 0.1, 0.25, 0.3, 0.5, 0.8], dtype=torch.float64)
    degree = {(1, 1): 1, (1, 2): 2, (2, 1): 2, (2, 2): 3}[(derivative, order)]
    values = times**degree
    exact = (
        degree * times ** (degree - 1)
        if derivative == 1
        else degree * (degree - 1) * times ** (degree - 2)
    )
    torch.testing.assert_close(
        time_derivative(values, times, derivative=derivative, order=order), exact
    )


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize(("derivative", "order"), [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_orders_of_accuracy(derivative: int, order: int, uniform: bool) -> None:
    errors, steps = [], []
    for n in (20, 40, 80, 160):
        k = torch.arange(n, dtype=torch.float64)
        times = k / n + (0.0 if uniform else 0.3 / n * torch.sin(3 * k))
        values = torch.sin(3 * times)[:, None, None].expand(-1, 2, 1)
        exact = 3 * torch.cos(3 * times) if derivative == 1 else -9 * torch.sin(3 * times)
        result = time_derivative(values, times, derivative=derivative, order=order)
        errors.append((result[:, 0, 0] - exact).abs().max().item())
        steps.append(times.diff().max().item())
    measured = [
        math.log(errors[i] / errors[i + 1]) / math.log(steps[i] / steps[i + 1]) for i in range(3)
    ]
    assert min(measured) > order - 0.25, f"orders {measured}"


def test_uniform_second_derivative_uses_centred_three_points() -> None:
    index, weights = time_stencil(torch.arange(5.0), derivative=2, order=2)
    np.testing.assert_array_equal(index[2, :3], [1, 2, 3])
    np.testing.assert_allclose(weights[2], [1.0, -2.0, 1.0, 0.0])  # padded to the end stencils
    assert weights.shape == (5, 4)


def test_differentiable_and_shapes() -> None:
    times = torch.linspace(0, 1, 5, dtype=torch.float64)
    values = torch.randn(5, 3, 2, dtype=torch.float64, requires_grad=True)
    assert time_derivative(values, times).shape == (5, 3, 2)
    assert torch.autograd.gradcheck(lambda v: time_derivative(v, times), (values,))


@pytest.mark.parametrize(
    ("times", "kwargs", "match"),
    [
        ([0.0, 0.2, 0.1], {}, "strictly increasing"),
        ([0.0, 0.1], {}, "needs at least 3 frames"),
        ([0.0, 0.1, 0.2], {"derivative": 3}, "'derivative' 1 or 2"),
        ([0.0, 0.1, 0.2], {"order": 3}, "'order' 1 or 2"),
        ([0.0, 0.1], {"order": 1, "n": 3}, r"'times' with shape \[3\]"),
    ],
)
def test_bad_input(times, kwargs, match: str) -> None:
    n = kwargs.pop("n", len(times))
    with pytest.raises(ValueError, match=match):
        time_derivative(torch.zeros(n, 2), torch.tensor(times), **kwargs)
