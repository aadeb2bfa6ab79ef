"""taylor_green: exact values, the grid layout, and the Navier-Stokes residual."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from meshfield.cases import taylor_green
from meshfield.cases.taylor_green import taylor_green_fields
from meshfield.data import load_spec, validate
from meshfield.errors import SpecError
from meshfield.io import from_grid, to_grid


def test_exact_values_at_sampled_nodes(tiny_taylor_green: dict[str, Any]) -> None:
    spec = load_spec(tiny_taylor_green)
    graph = taylor_green.simulate(spec, {"nu": 0.05}, Path("."))
    assert validate(graph) == []
    assert graph.field_names == ["U_x", "U_y", "p"]
    assert graph.times.tolist() == [0.0, 0.5, 1.0]
    assert graph.cond_names == ["nu"] and graph.cond.tolist() == [pytest.approx(0.05)]
    rng = np.random.default_rng(0)
    for node in rng.choice(graph.num_nodes, size=20, replace=False):
        x, y = graph.pos[node].double().tolist()
        for step, t in enumerate([0.0, 0.5, 1.0]):
            u = math.sin(x) * math.cos(y) * math.exp(-2 * 0.05 * t)
            v = -math.cos(x) * math.sin(y) * math.exp(-2 * 0.05 * t)
            p = 0.25 * (math.cos(2 * x) + math.cos(2 * y)) * math.exp(-4 * 0.05 * t)
            expected = torch.tensor([u, v, p], dtype=torch.float32)
            torch.testing.assert_close(graph.fields[step, node], expected, atol=1e-6, rtol=0)


def test_grid_round_trips(tiny_taylor_green: dict[str, Any]) -> None:
    graph = taylor_green.simulate(load_spec(tiny_taylor_green), {"nu": 0.01}, Path("."))
    assert graph.grid_shape == (16, 16)
    grid = to_grid(graph)
    assert grid.shape == (3, 16, 16, 3)
    # grid[t, i, j] is the node at x = i h, y = j h (one period, no repeated end point)
    h = 2 * math.pi / 16
    assert grid[0, 4, 0, 0] == pytest.approx(math.sin(4 * h), abs=1e-6)
    assert grid[0, 0, 4, 1] == pytest.approx(-math.sin(4 * h), abs=1e-6)
    again = from_grid(grid, spacing=h, times=graph.times, field_names=graph.field_names)
    assert torch.equal(again.fields, graph.fields)
    assert torch.equal(again.pos, graph.pos)
    assert torch.equal(again.edge_index, graph.edge_index)
    assert graph.boundary_names == ["interior", "periodic"]


def navier_stokes_residual(n: int, nu: float, nu_in_equation: float) -> float:
    """Largest residual of momentum and continuity, by periodic central differences."""
    rho, h = 1.0, 2 * math.pi / n
    axis = np.arange(n) * h
    x, y = (a.reshape(-1) for a in np.meshgrid(axis, axis, indexing="ij"))
    t, dt = 0.7, 1e-4
    u, v, p = np.moveaxis(taylor_green_fields(x, y, [t], nu=nu, rho=rho)[0], -1, 0)
    later = taylor_green_fields(x, y, [t + dt], nu=nu, rho=rho)[0]
    earlier = taylor_green_fields(x, y, [t - dt], nu=nu, rho=rho)[0]
    u_t, v_t, _ = np.moveaxis((later - earlier) / (2 * dt), -1, 0)

    def shift(f: np.ndarray, by: int, axis: int) -> np.ndarray:
        return np.roll(f.reshape(n, n), by, axis).reshape(-1)

    def dx(f: np.ndarray) -> np.ndarray:
        return (shift(f, -1, 0) - shift(f, 1, 0)) / (2 * h)

    def dy(f: np.ndarray) -> np.ndarray:
        return (shift(f, -1, 1) - shift(f, 1, 1)) / (2 * h)

    def lap(f: np.ndarray) -> np.ndarray:
        return (shift(f, 1, 0) + shift(f, -1, 0) + shift(f, 1, 1) + shift(f, -1, 1) - 4 * f) / h**2

    momentum_x = u_t + u * dx(u) + v * dy(u) + dx(p) / rho - nu_in_equation * lap(u)
    momentum_y = v_t + u * dx(v) + v * dy(v) + dy(p) / rho - nu_in_equation * lap(v)
    continuity = dx(u) + dy(v)
    return max(np.abs(r).max() for r in (momentum_x, momentum_y, continuity))


def test_navier_stokes_residual_vanishes() -> None:
    coarse, fine = navier_stokes_residual(32, 0.03, 0.03), navier_stokes_residual(64, 0.03, 0.03)
    # second-order differences: the residual is discretization error only and drops 4x
    assert fine < 3e-3
    assert coarse / fine > 3.5
    # a wrong viscosity leaves a residual that does not converge away
    assert navier_stokes_residual(64, 0.03, 0.06) > 10 * fine


def test_reynolds_number_as_condition(tiny_taylor_green: dict[str, Any]) -> None:
    tiny_taylor_green["conditions"] = {"Re": {"units": "1", "train": [20, 100]}}
    spec = load_spec(tiny_taylor_green)
    by_re = taylor_green.simulate(spec, {"Re": 20.0}, Path("."))
    tiny_taylor_green["conditions"] = {"nu": {"units": "m^2/s", "train": [0.05]}}
    by_nu = taylor_green.simulate(load_spec(tiny_taylor_green), {"nu": 0.05}, Path("."))
    torch.testing.assert_close(by_re.fields, by_nu.fields)
    assert by_re.cond_names == ["Re"]


def test_steady_spec_gives_the_initial_field(tiny_taylor_green: dict[str, Any]) -> None:
    tiny_taylor_green["time"] = {"steady": True}
    graph = taylor_green.simulate(load_spec(tiny_taylor_green), {"nu": 0.05}, Path("."))
    assert graph.fields.shape == (1, 256, 3) and graph.times.tolist() == [0.0]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s["mesh"].update(generator="grid"), r"mesh\.generator"),
        (lambda s: s["mesh"]["params"].update(n=2), r"mesh\.params\.n: expected an integer"),
        (lambda s: s.update(fields={"U": "m/s"}), r"fields: taylor_green gives U and p"),
        (
            lambda s: s["conditions"].update(Re={"units": "1", "train": [1], "test": [2]}),
            r"conditions: taylor_green takes one of",
        ),
    ],
)
def test_check_spec(tiny_taylor_green: dict[str, Any], change: Any, match: str) -> None:
    change(tiny_taylor_green)
    with pytest.raises(SpecError, match=match):
        taylor_green.check_spec(load_spec(tiny_taylor_green))
