"""heat_plate: the mesh, the P1 matrices, and the solver against exact and discrete answers."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse.linalg
import torch

from meshfield.cases import heat_plate
from meshfield.cases.heat_plate import assemble_p1, plate_mesh, solve_heat
from meshfield.data import load_spec, validate
from meshfield.errors import SpecError


def series_solution(x: np.ndarray, t: float, alpha: float, length: float) -> np.ndarray:
    """T(x, t) on [0, L]: T(0) = 1, insulated at L, T = 0 at t = 0 (Fourier series)."""
    out = np.ones_like(x)
    for n in range(400):
        k = (2 * n + 1) * np.pi / (2 * length)
        out -= 4 / ((2 * n + 1) * np.pi) * np.sin(k * x) * np.exp(-(k**2) * alpha * t)
    return out


def test_plate_mesh_has_named_groups_and_valid_triangles() -> None:
    graph = plate_mesh(size=0.2, hole_size=0.1)
    assert graph.boundary_names == ["interior", "left", "holes", "right", "bottom", "top"]
    counts = torch.bincount(graph.boundary, minlength=6)
    assert (counts[1:] > 0).all()
    assert validate(graph) == []
    pos = graph.pos.double().numpy()
    hole_nodes = pos[graph.boundary.numpy() == 2]
    radius = np.minimum(
        np.hypot(hole_nodes[:, 0] - 0.6, hole_nodes[:, 1] - 0.55),
        np.hypot(hole_nodes[:, 0] - 1.35, hole_nodes[:, 1] - 0.4),
    )
    # every hole node lies on one of the two circles (radius 0.2 or 0.15)
    assert np.all(np.minimum(abs(radius - 0.2), abs(radius - 0.15)) < 1e-6)
    left = pos[graph.boundary.numpy() == 1]
    np.testing.assert_allclose(left[:, 0], 0.0, atol=1e-9)
    # corners of the left edge belong to the left group (listed first)
    assert {0.0, 1.0} <= set(np.round(left[:, 1], 9))


def test_p1_matrices() -> None:
    graph = plate_mesh(size=0.2, hole_size=0.1)
    pos, tri = graph.pos.double().numpy(), graph.cells["triangle"].numpy()
    stiffness, mass = assemble_p1(pos, tri)
    area = 2.0 * 1.0 - np.pi * (0.2**2 + 0.15**2)
    # M integrates 1 over the polygonal domain (close to the exact area)
    assert mass.sum() == pytest.approx(area, rel=2e-2)
    assert abs(stiffness - stiffness.T).max() < 1e-12
    np.testing.assert_allclose(np.asarray(stiffness.sum(axis=1)).ravel(), 0, atol=1e-12)
    # K reproduces linear functions: x^T K x = area (|grad x|^2 = 1), and K x = 0 inside
    x = pos[:, 0]
    assert x @ stiffness @ x == pytest.approx(mass.sum(), rel=1e-12)
    interior = graph.boundary.numpy() == 0
    np.testing.assert_allclose((stiffness @ x)[interior], 0, atol=1e-12)


def test_matches_the_series_solution_on_a_plain_strip() -> None:
    graph = plate_mesh(width=1.0, height=0.2, holes=[], size=0.025)
    assert graph.boundary_names == ["interior", "left", "right", "bottom", "top"]
    pos, tri = graph.pos.double().numpy(), graph.cells["triangle"].numpy()
    dirichlet = np.full(len(pos), np.nan)
    dirichlet[graph.boundary.numpy() == 1] = 1.0
    times = np.array([0.0, 0.05, 0.1, 0.2, 0.5])
    errors = {}
    for dt in (1e-3, 2.5e-4):
        temperature = solve_heat(pos, tri, dirichlet, alpha=1.0, times=times, dt=dt)
        errors[dt] = [
            np.abs(temperature[i] - series_solution(pos[:, 0], t, 1.0, 1.0)).max()
            for i, t in enumerate(times[1:], start=1)
        ]
    assert max(errors[2.5e-4]) < 1e-3
    # implicit Euler is first order: a 4x smaller step cuts the error (mesh error is smaller)
    assert errors[2.5e-4][1] < errors[1e-3][1] / 3


def test_long_run_reaches_the_discrete_steady_solution(tiny_heat: dict[str, Any]) -> None:
    spec = load_spec(tiny_heat)
    conditions = {"alpha": 0.5, "T_left": 2.0, "T_hole": -1.0}
    long = copy.deepcopy(tiny_heat)
    long["time"] = {"spin_up": 0.0, "end": 40.0, "interval": 20.0}
    long["solver"]["settings"] = {"dt": 0.5}
    transient = heat_plate.simulate(load_spec(long), conditions, Path("."))
    steady_spec = copy.deepcopy(tiny_heat)
    steady_spec["time"] = {"steady": True}
    steady = heat_plate.simulate(load_spec(steady_spec), conditions, Path("."))
    assert steady.fields.shape[0] == 1 and steady.times.tolist() == [0.0]
    torch.testing.assert_close(transient.fields[-1], steady.fields[0], atol=1e-5, rtol=0)
    assert spec.case == "heat_plate"


def test_boundary_values_are_imposed_exactly(tiny_heat: dict[str, Any]) -> None:
    spec = load_spec(tiny_heat)
    conditions = {"alpha": 0.07, "T_left": 1.2345, "T_hole": -0.321}
    graph = heat_plate.simulate(spec, conditions, Path("."))
    assert validate(graph) == []
    assert graph.fields.shape == (5, graph.num_nodes, 1)
    assert graph.field_names == ["T"]
    assert graph.times.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert graph.cond_names == ["alpha", "T_left", "T_hole"]
    torch.testing.assert_close(graph.cond, torch.tensor([0.07, 1.2345, -0.321]))
    names = graph.boundary_names
    temperature = graph.fields[..., 0]
    on_left = graph.boundary == names.index("left")
    on_holes = graph.boundary == names.index("holes")
    assert (temperature[:, on_left] == torch.tensor(1.2345, dtype=torch.float32)).all()
    assert (temperature[:, on_holes] == torch.tensor(-0.321, dtype=torch.float32)).all()
    # the initial state: T0 = 0 inside
    assert (temperature[0, graph.boundary == 0] == 0).all()
    # insulated edges are free: heat arrives there after t = 0
    on_right = graph.boundary == names.index("right")
    assert temperature[-1, on_right].abs().max() > 0
    assert torch.isfinite(graph.fields).all()


def test_energy_decays_with_cold_boundaries(tiny_heat: dict[str, Any]) -> None:
    tiny_heat["pde"]["constants"]["T0"] = 1.0
    cold = {"alpha": 0.05, "T_left": 0.0, "T_hole": 0.0}
    graph = heat_plate.simulate(load_spec(tiny_heat), cold, Path("."))
    _, mass = assemble_p1(graph.pos.double().numpy(), graph.cells["triangle"].numpy())
    temperature = graph.fields[..., 0].double().numpy()
    energy = np.array([t @ mass @ t for t in temperature])
    # implicit Euler is unconditionally stable: the discrete energy decreases every snapshot
    assert np.all(np.diff(energy) < 0)


def test_crank_nicolson_agrees_with_implicit_euler(tiny_heat: dict[str, Any]) -> None:
    conditions = {"alpha": 0.05, "T_left": 1.0, "T_hole": 0.0}
    tiny_heat["solver"]["settings"] = {"dt": 0.005, "theta": 1.0}
    euler = heat_plate.simulate(load_spec(tiny_heat), conditions, Path("."))
    tiny_heat["solver"]["settings"] = {"dt": 0.005, "theta": 0.5}
    crank = heat_plate.simulate(load_spec(tiny_heat), conditions, Path("."))
    torch.testing.assert_close(euler.fields[-1], crank.fields[-1], atol=5e-3, rtol=0)


def test_runs_are_deterministic_and_factorize_once(
    tiny_heat: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What keeps a run fast: one sparse LU factorization for the whole run, then one
    # triangular solve per time step (counted here instead of timing the run).
    real_splu = scipy.sparse.linalg.splu
    factorizations: list[int] = []
    solves: list[int] = []

    class CountingLU:
        def __init__(self, matrix: Any) -> None:
            factorizations.append(matrix.shape[0])
            self._lu = real_splu(matrix)

        def solve(self, rhs: np.ndarray) -> np.ndarray:
            solves.append(1)
            return self._lu.solve(rhs)

    monkeypatch.setattr(scipy.sparse.linalg, "splu", CountingLU)
    spec = load_spec(tiny_heat)
    conditions = {"alpha": 0.02, "T_left": 1.0, "T_hole": 0.5}
    one = heat_plate.simulate(spec, conditions, Path("."))
    # 4 snapshot intervals of 0.25 s after t = 0, at dt = 0.05: 20 steps, all on one
    # factorization of the matrix of the free (not held at a fixed temperature) nodes
    assert tiny_heat["time"] == {"spin_up": 0.0, "end": 1.0, "interval": 0.25}
    assert tiny_heat["solver"]["settings"]["dt"] == 0.05
    assert one.fields.shape[0] == 5
    names = one.boundary_names
    fixed = (one.boundary == names.index("left")) | (one.boundary == names.index("holes"))
    assert factorizations == [int((~fixed).sum())]
    assert len(solves) == 20
    two = heat_plate.simulate(spec, conditions, Path("."))
    assert torch.equal(one.fields, two.fields)
    assert torch.equal(one.pos, two.pos)


def test_a_mesh_file_works_too(tiny_heat: dict[str, Any], tmp_path: Path) -> None:
    from meshfield.io import save

    path = save(plate_mesh(size=0.2, hole_size=0.1), tmp_path / "plate.vtu")
    generated_spec = copy.deepcopy(tiny_heat)
    tiny_heat["mesh"] = {"file": str(path)}
    conditions = {"alpha": 0.05, "T_left": 1.0, "T_hole": 0.0}
    from_file = heat_plate.simulate(load_spec(tiny_heat), conditions, tmp_path)
    generated = heat_plate.simulate(load_spec(generated_spec), conditions, tmp_path)
    assert from_file.boundary_names == generated.boundary_names
    torch.testing.assert_close(from_file.fields, generated.fields)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s["mesh"].update(generator="disk"), r"mesh\.generator: heat_plate makes"),
        (
            lambda s: s["mesh"]["params"].update(holes=[[1.9, 0.5, 0.2]]),
            r"mesh\.params\.holes\[0\]: expected a hole .* inside",
        ),
        (
            lambda s: s["mesh"]["params"].update(holes=[[0.5, 0.5, 0.2], [0.7, 0.5, 0.2]]),
            r"holes 0 and 1 overlap",
        ),
        (lambda s: s["mesh"]["params"].update(radius=1), r"mesh\.params\.radius: unknown"),
        (
            lambda s: s["conditions"].update(
                T_side={"units": "K", "train": [1], "val": [1], "test": [1]}
            ),
            r"conditions\.T_side: heat_plate takes",
        ),
        (lambda s: s["solver"].update(settings={"theta": 0.2}), r"theta: expected a number in"),
        (lambda s: s["solver"].update(settings={"tol": 1}), r"settings\.tol: unknown setting"),
        (lambda s: s.update(fields={"U": "m/s"}), r"fields: heat_plate gives"),
    ],
)
def test_check_spec(tiny_heat: dict[str, Any], change: Any, match: str) -> None:
    change(tiny_heat)
    with pytest.raises(SpecError, match=match):
        heat_plate.check_spec(load_spec(tiny_heat))


def test_alpha_is_required(tiny_heat: dict[str, Any]) -> None:
    del tiny_heat["conditions"]["alpha"]
    tiny_heat["conditions"]["T_left"] = {"units": "K", "train": [1], "val": [2], "test": [3]}
    with pytest.raises(SpecError, match="needs alpha"):
        heat_plate.check_spec(load_spec(tiny_heat))
    tiny_heat["pde"]["constants"]["alpha"] = 0.1  # a constant works as well
    heat_plate.check_spec(load_spec(tiny_heat))
