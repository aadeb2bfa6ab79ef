"""The airfoil case: spec, and a short simpleFoam run on the airFoil2D tutorial mesh."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from meshfield.cases import airfoil
from meshfield.cases import openfoam as foam
from meshfield.data.spec import load_spec
from meshfield.errors import SpecError


def _has_tutorial() -> bool:
    try:
        foam.tutorial_dir(airfoil.TUTORIAL)
    except foam.OpenFOAMNotFoundError:
        return False
    return True


SPEC = Path(__file__).parents[2] / "data_specs" / "airfoil.yaml"

requires_openfoam = pytest.mark.skipif(
    not (foam.openfoam_available(("simpleFoam",)) and _has_tutorial())
    and not os.environ.get("MESHFIELD_REQUIRE_OPENFOAM"),
    reason="OpenFOAM and its tutorials are not installed "
    "(apt-get install -y openfoam openfoam-examples)",
)


def _raw(**changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load(SPEC.read_text())
    raw.update(changes)
    return raw


def test_spec_loads_and_is_runnable() -> None:
    spec = load_spec(SPEC)
    airfoil.check_spec(spec)
    assert spec.time.steady and spec.time.num_snapshots == 1
    runs = spec.runs()
    assert len(runs) == 32
    assert all(-4.0 <= r.conditions["aoa"] <= 12.0 for r in runs)
    assert all(10.0 <= r.conditions["U_inf"] <= 40.0 for r in runs)


def test_check_spec_names_what_is_wrong() -> None:
    with pytest.raises(SpecError, match="steady"):
        airfoil.check_spec(load_spec(_raw(time={"spin_up": 0.0, "end": 1.0, "interval": 0.5})))
    with pytest.raises(SpecError, match="writes U, p, nut and nuTilda"):
        airfoil.check_spec(load_spec(_raw(fields={"U": "m/s", "T": "K"})))
    with pytest.raises(SpecError, match="mesh.params: the airfoil case takes none"):
        airfoil.check_spec(
            load_spec(_raw(mesh={"generator": "airfoil2d_tutorial", "params": {"n": 1}}))
        )


@requires_openfoam
@pytest.mark.openfoam
def test_fifty_iterations(tmp_path: Path) -> None:
    """aoa = 8 deg, U_inf = 26 m/s (the tutorial's free stream), 50 iterations; about 3 s."""
    from meshfield.data import validate

    spec = load_spec(_raw(solver={"name": "simpleFoam", "settings": {"iterations": 50}}))
    graph = airfoil.simulate(spec, {"aoa": 8.0, "U_inf": 26.0}, tmp_path)

    assert validate(graph) == []
    assert graph.fields.shape[0] == 1 and graph.times.tolist() == [0.0]
    assert graph.field_names == ["U_x", "U_y", "p", "nut"]
    assert graph.cond_names == ["aoa", "U_inf"] and graph.cond.tolist() == [8.0, 26.0]
    assert graph.boundary_names == ["interior", "inlet", "outlet", "airfoil"]
    assert set(graph.cells) == {"triangle"}
    fields = graph.fields[0].numpy()
    assert np.isfinite(fields).all()

    wall = (graph.boundary == 3).numpy()
    assert wall.sum() > 50
    assert np.abs(fields[wall, :2]).max() < 1e-6  # no-slip on the airfoil
    inlet = (graph.boundary == 1).numpy()
    angle = np.degrees(np.arctan2(fields[inlet, 1], fields[inlet, 0]))
    speed = np.linalg.norm(fields[inlet, :2], axis=1)
    assert np.median(angle) == pytest.approx(8.0, abs=0.5)
    assert np.median(speed) == pytest.approx(26.0, rel=0.02)
    # the flow turns around the airfoil: speed-up over its suction side
    assert np.linalg.norm(fields[:, :2], axis=1).max() > 1.2 * 26.0
    assert not math.isnan(float(fields[:, 3].mean()))


@requires_openfoam
@pytest.mark.openfoam
def test_quads_kept_on_request(tmp_path: Path) -> None:
    case = airfoil.setup_case(tmp_path / "case", 0.0, 10.0, solver={"iterations": 1})
    graph = foam.read_planar(case, fields=("U",), triangulate=False)
    assert set(graph.cells) == {"quad"}
    assert graph.cells["quad"].shape[0] == 10720
