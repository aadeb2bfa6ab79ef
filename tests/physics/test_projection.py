"""Residual projection: it removes residual and, for noise, moves the fields toward the truth."""

from __future__ import annotations

import math

import pytest
import torch
from physics_meshes import rectangle

from meshfield.errors import NonFiniteError
from meshfield.physics import MeshOperators, NavierStokes, analytic
from meshfield.physics.projection import project_residual

RE = 50.0


@pytest.fixture(scope="module")
def taylor_green() -> tuple[MeshOperators, torch.Tensor, torch.Tensor]:
    pos, triangles = rectangle(0.3, 0.0, 0.0, 2 * math.pi, 2 * math.pi)
    pos = torch.from_numpy(pos)
    ops = MeshOperators(pos, cells={"triangle": torch.from_numpy(triangles)})
    times = 0.2 + 0.1 * torch.arange(5, dtype=torch.float64)
    xt = torch.cat([pos.expand(5, -1, -1), times[:, None, None].expand(-1, len(pos), 1)], dim=-1)
    return ops, analytic.taylor_green(xt, nu=1 / RE), times


def _noisy(exact: torch.Tensor, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = 0.05 * torch.randn(exact.shape, generator=generator, dtype=exact.dtype)
    noise[0] = 0.0  # the initial state is given
    return exact + noise


def test_projection_removes_node_scale_error(taylor_green) -> None:
    ops, exact, times = taylor_green
    noisy = _noisy(exact)
    out = project_residual(noisy, NavierStokes(Re=RE), ops, scale=[1.0, 1.0, 1.0], weight=1.0,
                           iterations=30, times=times)
    assert out.r_after < out.r_before / 5, out[1:]
    # the projection never sees the exact solution, yet it moves toward it
    before = (noisy - exact)[1:, ops.interior].pow(2).mean()
    after = (out.fields - exact)[1:, ops.interior].pow(2).mean()
    assert after < 0.8 * before, (float(before), float(after))
    # the given frame and the boundary nodes stay as they were
    assert torch.equal(out.fields[0], noisy[0])
    assert torch.equal(out.fields[:, ~ops.interior], noisy[:, ~ops.interior])
    # r_after is the residual of what is returned
    residual = NavierStokes(Re=RE).mesh_residual(ops, out.fields, times=times)
    assert residual[:, ops.interior].pow(2).mean().item() == pytest.approx(out.r_after)


def test_a_high_price_keeps_the_fields(taylor_green) -> None:
    ops, exact, times = taylor_green
    noisy = _noisy(exact, seed=1)
    cheap = project_residual(noisy, NavierStokes(Re=RE), ops, weight=1.0, times=times)
    dear = project_residual(noisy, NavierStokes(Re=RE), ops, weight=1e6, times=times)
    assert (dear.fields - noisy).abs().max() < 1e-3 < (cheap.fields - noisy).abs().max()
    assert cheap.r_after < dear.r_after <= dear.r_before


def test_projection_keeps_the_dtype_and_the_leading_frames(taylor_green) -> None:
    ops, exact, times = taylor_green
    noisy = _noisy(exact).float()
    out = project_residual(noisy, NavierStokes(Re=RE), ops, keep=2, iterations=5, times=times)
    assert out.fields.dtype == torch.float32
    assert torch.equal(out.fields[:2], noisy[:2])
    assert not torch.equal(out.fields[2:], noisy[2:])


def test_projection_rejects_bad_input(taylor_green) -> None:
    ops, exact, times = taylor_green
    pde = NavierStokes(Re=RE)
    broken = exact.clone()
    broken[3, 5, 0] = math.nan
    with pytest.raises(NonFiniteError, match="not finite"):
        project_residual(broken, pde, ops, times=times)
    with pytest.raises(ValueError, match="at least 3 frames"):
        project_residual(exact[:2], pde, ops, times=times[:2])
    with pytest.raises(ValueError, match="positive, finite projection 'weight'"):
        project_residual(exact, pde, ops, weight=0.0, times=times)
    with pytest.raises(ValueError, match="'iterations' >= 1"):
        project_residual(exact, pde, ops, iterations=0, times=times)
    with pytest.raises(ValueError, match=r"\[T, N, C\]"):
        project_residual(exact[0], pde, ops, times=times)
    with pytest.raises(ValueError, match="3 positive field scales"):
        project_residual(exact, pde, ops, scale=[1.0, 0.0, 1.0], times=times)
