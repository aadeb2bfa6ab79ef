"""The cylinder_wake case: spec, mesh, and a short OpenFOAM run checked against the physics."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import meshio
import numpy as np
import pytest
import yaml

from meshfield.cases import cylinder_wake
from meshfield.cases import openfoam as foam
from meshfield.data.spec import load_spec
from meshfield.errors import MissingDependencyError, SpecError

SPEC = Path(__file__).parents[2] / "data_specs" / "cylinder_wake.yaml"

requires_openfoam = pytest.mark.skipif(
    not foam.openfoam_available(("gmshToFoam", "foamDictionary", "pimpleFoam"))
    and not os.environ.get("MESHFIELD_REQUIRE_OPENFOAM"),
    reason="OpenFOAM is not installed (apt-get install -y openfoam)",
)


def _spec(**changes: Any) -> Any:
    raw = yaml.safe_load(SPEC.read_text())
    for key, value in changes.items():
        raw[key] = value
    return load_spec(raw)


def test_spec_loads_and_is_runnable() -> None:
    spec = load_spec(SPEC)
    cylinder_wake.check_spec(spec)
    assert spec.case == "cylinder_wake"
    assert spec.time.num_snapshots == 100
    test_values = [run.conditions["Re"] for run in spec.runs(["test"])]
    assert 150.0 in test_values
    train = {run.conditions["Re"] for run in spec.runs(["train"])}
    assert min(train) == 60.0 and max(train) == 200.0
    assert not train & set(test_values)


def test_check_spec_names_what_is_wrong() -> None:
    raw = yaml.safe_load(SPEC.read_text())
    with pytest.raises(SpecError, match=r"mesh.params: unknown keys \['size_cylnder'\]"):
        cylinder_wake.check_spec(
            _spec(mesh={"generator": "cylinder_channel", "params": {"size_cylnder": 0.1}})
        )
    with pytest.raises(SpecError, match="generator: cylinder_channel"):
        cylinder_wake.check_spec(_spec(mesh={"generator": "box", "params": {}}))
    with pytest.raises(SpecError, match="solver.settings: unknown keys"):
        cylinder_wake.check_spec(_spec(solver={"name": "pimpleFoam", "settings": {"maxCo": 1}}))
    with pytest.raises(SpecError, match="transient"):
        cylinder_wake.check_spec(_spec(time={"steady": True}))
    conditions = {"nu": {**raw["conditions"]["Re"], "units": "m^2/s"}}
    with pytest.raises(SpecError, match="one condition, Re"):
        cylinder_wake.check_spec(_spec(conditions=conditions))


def test_missing_openfoam_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="apt-get install -y openfoam"):
        cylinder_wake.check_requirements()


def test_strouhal_number_of_known_signals() -> None:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0.0, 40.0, 4000))  # uneven steps, as with an adjustable dt
    lift = 0.3 + 0.5 * np.sin(2 * np.pi * 0.165 * t + 0.4)
    assert cylinder_wake.strouhal_number(t, lift) == pytest.approx(0.165, rel=1e-3)
    assert cylinder_wake.strouhal_number(t, lift, diameter=2.0, velocity=4.0) == pytest.approx(
        0.165 * 2.0 / 4.0, rel=1e-3
    )
    with pytest.raises(ValueError, match="at least two upward zero crossings"):
        cylinder_wake.strouhal_number(t, t)
    with pytest.raises(ValueError, match="shape"):
        cylinder_wake.strouhal_number(t, t[:-1])


def test_mesh_is_deterministic(tmp_path: Path) -> None:
    params = {"size_cylinder": 0.3, "size_wake": 0.8, "size_far": 2.0}
    first = meshio.read(cylinder_wake.make_mesh(tmp_path / "a.msh", **params))
    second = meshio.read(cylinder_wake.make_mesh(tmp_path / "b.msh", **params))
    np.testing.assert_array_equal(first.points, second.points)
    assert {c.type for c in first.cells} >= {"wedge"}
    assert set(first.field_data) == {
        "inlet",
        "outlet",
        "walls",
        "cylinder",
        "frontAndBack",
        "fluid",
    }
    np.testing.assert_allclose(first.points.min(axis=0), [-8.0, -8.0, 0.0])
    np.testing.assert_allclose(first.points.max(axis=0), [25.0, 8.0, 0.1])


@requires_openfoam
@pytest.mark.openfoam
@pytest.mark.slow
def test_shedding_at_re_100(tmp_path: Path) -> None:
    """Re = 100 on the default (~5.4k cell) mesh: St within 5% of 0.165, boundary values hold.

    Spin-up 10, 20 recorded time units; about 15 s on two cores.
    """
    from meshfield.data import validate

    spec = _spec(
        time={"spin_up": 10.0, "end": 30.0, "interval": 0.5},
        mesh={"generator": "cylinder_channel", "params": {}},
    )
    start = time.perf_counter()
    graph = cylinder_wake.simulate(spec, {"Re": 100.0}, tmp_path)
    seconds = time.perf_counter() - start

    assert validate(graph) == []
    assert graph.field_names == ["U_x", "U_y", "p"]
    assert graph.fields.shape[0] == 41 and graph.fields.shape[2] == 3
    np.testing.assert_allclose(graph.times.numpy(), spec.time.snapshot_times(), atol=1e-5)
    assert graph.boundary_names == ["interior", "inlet", "outlet", "walls", "cylinder"]
    assert graph.cond.tolist() == [100.0] and graph.cond_names == ["Re"]
    assert np.isfinite(graph.fields.numpy()).all()

    velocity = graph.fields[..., :2].numpy()
    cylinder = (graph.boundary == 4).numpy()
    inlet = (graph.boundary == 1).numpy()
    assert cylinder.sum() >= 20 and inlet.sum() >= 10
    assert np.abs(velocity[:, cylinder]).max() < 1e-6  # no-slip
    # inflow; the two inlet corners also touch the slip walls and get their mean
    corner = np.abs(graph.pos.numpy()[:, 1]) > 8.0 - 1e-6
    np.testing.assert_allclose(velocity[:, inlet & ~corner, 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(velocity[:, inlet & ~corner, 1], 0.0, atol=1e-5)
    np.testing.assert_allclose(velocity[:, inlet & corner, 0], 1.0, atol=2e-2)
    radius = np.linalg.norm(graph.pos.numpy()[cylinder], axis=1)
    np.testing.assert_allclose(radius, 0.5, atol=1e-6)

    # the wake sheds: the transverse velocity on the centre line behind the cylinder oscillates
    behind = np.argmin(np.linalg.norm(graph.pos.numpy() - [3.0, 0.0], axis=1))
    assert velocity[:, behind, 1].std() > 0.1

    coeffs = cylinder_wake.read_force_coefficients(tmp_path / "case")
    strouhal = cylinder_wake.strouhal_number(coeffs["Time"], coeffs["Cl"], start=10.0)
    assert strouhal == pytest.approx(0.165, rel=0.05), f"St = {strouhal:.4f} ({seconds:.0f} s)"
    recorded = coeffs["Time"] >= 10.0
    assert 1.2 < coeffs["Cd"][recorded].mean() < 1.6
