"""R and MSE-R by hand, and on a gmsh mesh with the Taylor-Green vortex."""

from __future__ import annotations

import math

import pytest
import torch

from meshfield.metrics import MSER, mse_r, mse_r_on_mesh, normalized_mse, residual_r
from meshfield.physics import MeshOperators, NavierStokes
from meshfield.physics.analytic import taylor_green


def test_residual_r_per_component_and_total() -> None:
    residual = torch.tensor([[[1.0, 2.0], [3.0, 0.0]], [[1.0, 0.0], [1.0, 2.0]]])  # [T, N, K]
    torch.testing.assert_close(residual_r(residual, per="field"), torch.tensor([3.0, 2.0]))
    torch.testing.assert_close(residual_r(residual), torch.tensor(2.5))
    torch.testing.assert_close(residual_r(residual, per="step"), torch.tensor([3.5, 1.5]))
    torch.testing.assert_close(
        residual_r(residual, weight=torch.tensor([True, False])), torch.tensor(1.5)
    )


def test_normalized_mse() -> None:
    target = torch.tensor([[[0.0, 10.0], [2.0, 30.0]]])  # std (population) 1 and 10
    pred = target + torch.tensor([[[1.0, 10.0], [1.0, 10.0]]])
    torch.testing.assert_close(normalized_mse(pred, target), torch.tensor(1.0))
    torch.testing.assert_close(
        normalized_mse(pred, target, scale=[2.0, 5.0]), torch.tensor((0.25 + 4.0) / 2)
    )


def test_mse_r_by_hand() -> None:
    target = torch.tensor([[[0.0], [2.0]]])  # std 1
    pred = target + 0.5  # mse 0.25
    residual = torch.tensor([[1.0, 1.0], [1.0, 1.0]])  # R = 1
    reference = torch.tensor([[0.5, 0.5], [0.5, 0.5]])  # R_ref = 0.25
    result = mse_r(pred, target, residual=residual, reference_residual=reference)
    assert isinstance(result, MSER)
    assert result.mse == pytest.approx(0.25)
    assert result.r == pytest.approx(1.0) and result.r_ref == pytest.approx(0.25)
    assert result.score == pytest.approx(0.25 + 4.0) and result.r_ratio == pytest.approx(4.0)
    assert result.r_ref_source == "reference"
    half = mse_r(pred, target, residual=residual, r_ref=2.0, lam=0.5)
    assert half.score == pytest.approx(0.25 + 0.5 * 0.5) and half.r_ref_source == "constant"
    text = str(result)
    for part in ("MSE-R 4.25", "MSE 0.25", "R 1", "R_ref 0.25 [reference]", "R/R_ref 4"):
        assert part in text, text
    assert set(result.as_dict()) >= {"mse", "R", "R_ref", "mse_r"}


def test_mse_r_needs_exactly_one_scale() -> None:
    target = torch.zeros(1, 2, 1)
    with pytest.raises(ValueError, match="exactly one residual scale"):
        mse_r(target, target, residual=torch.ones(2, 1))
    with pytest.raises(ValueError, match="exactly one residual scale"):
        mse_r(
            target,
            target,
            residual=torch.ones(2, 1),
            reference_residual=torch.ones(2, 1),
            r_ref=1.0,
        )
    with pytest.raises(ValueError, match="positive residual scale"):
        mse_r(target, target, residual=torch.ones(2, 1), r_ref=0.0)


def _triangulated_square(n: int, length: float) -> tuple[torch.Tensor, torch.Tensor]:
    grid = torch.linspace(0, length, n, dtype=torch.float64)
    pos = torch.cartesian_prod(grid, grid)[:, [1, 0]]
    idx = torch.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    triangles = torch.cat([torch.stack([a, b, c], -1), torch.stack([a, c, d], -1)]).reshape(-1, 3)
    return pos, triangles


def test_mse_r_on_a_mesh() -> None:
    """Reference = Taylor-Green samples; a prediction with the wrong decay breaks the physics."""
    pos, triangles = _triangulated_square(21, 2 * math.pi)
    ops = MeshOperators(pos, cells={"triangle": triangles})
    times = torch.linspace(0.2, 0.6, 5, dtype=torch.float64)
    xt = torch.cat([pos.expand(5, -1, -1), times[:, None, None].expand(-1, len(pos), 1)], -1)
    target = taylor_green(xt, nu=0.02)
    pde = NavierStokes(Re=50.0)
    same = mse_r_on_mesh(target, target, pde, ops, times=times)
    assert same.mse == 0 and same.score == pytest.approx(1.0)  # as physical as the reference
    wrong = mse_r_on_mesh(taylor_green(xt, nu=0.5), target, pde, ops, times=times)
    assert wrong.mse > 0 and wrong.r_ratio > 10, str(wrong)
    interior = mse_r_on_mesh(
        taylor_green(xt, nu=0.5), target, pde, ops, times=times, interior_only=True
    )
    assert interior.r != wrong.r
