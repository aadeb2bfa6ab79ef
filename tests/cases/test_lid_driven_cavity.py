"""The lid_driven_cavity case: spec, and a short icoFoam run checked against Ghia et al."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from meshfield.cases import lid_driven_cavity
from meshfield.cases import openfoam as foam
from meshfield.data.spec import load_spec
from meshfield.errors import SpecError

SPEC = Path(__file__).parents[2] / "data_specs" / "lid_driven_cavity.yaml"

requires_openfoam = pytest.mark.skipif(
    not foam.openfoam_available(("gmshToFoam", "foamDictionary", "icoFoam"))
    and not os.environ.get("MESHFIELD_REQUIRE_OPENFOAM"),
    reason="OpenFOAM is not installed (apt-get install -y openfoam)",
)


def _raw(**changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load(SPEC.read_text())
    raw.update(changes)
    return raw


def test_spec_loads_and_is_runnable() -> None:
    spec = load_spec(SPEC)
    lid_driven_cavity.check_spec(spec)
    assert spec.time.num_snapshots == 101
    assert spec.splits == ("train", "val", "test")


def test_check_spec_names_what_is_wrong() -> None:
    with pytest.raises(SpecError, match="generator: unit_square"):
        lid_driven_cavity.check_spec(load_spec(_raw(mesh={"file": str(SPEC)})))
    with pytest.raises(SpecError, match=r"solver.settings: unknown keys \['dt'\]"):
        lid_driven_cavity.check_spec(
            load_spec(_raw(solver={"name": "icoFoam", "settings": {"dt": 0.01}}))
        )


def test_check_spec_refuses_snapshots_off_the_time_steps() -> None:
    with pytest.raises(SpecError, match=r"time.interval: expected a multiple of .*delta_t"):
        lid_driven_cavity.check_spec(
            load_spec(_raw(time={"spin_up": 0.0, "end": 1.0, "interval": 0.0123}))
        )
    with pytest.raises(SpecError, match="time.spin_up: expected a multiple of time.interval"):
        lid_driven_cavity.check_spec(
            load_spec(_raw(time={"spin_up": 0.3, "end": 2.3, "interval": 0.5}))
        )


def test_interval_must_be_a_multiple_of_the_time_step(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of delta_t"):
        lid_driven_cavity.setup_case(tmp_path, 100.0, end=1.0, interval=0.0123)
    with pytest.raises(ValueError, match="positive Reynolds"):
        lid_driven_cavity.setup_case(tmp_path, -1.0, end=1.0, interval=0.1)


@requires_openfoam
@pytest.mark.openfoam
@pytest.mark.slow
def test_start_up_at_re_100(tmp_path: Path) -> None:
    """Re = 100 to t = 8 on the default (~2.4k cell) mesh; about 6 s on two cores."""
    from meshfield.data import validate

    spec = load_spec(_raw(time={"spin_up": 0.0, "end": 8.0, "interval": 2.0}))
    graph = lid_driven_cavity.simulate(spec, {"Re": 100.0}, tmp_path)

    assert validate(graph) == []
    assert graph.field_names == ["U_x", "U_y", "p"]
    assert graph.times.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert graph.boundary_names == ["interior", "fixedWalls", "movingWall"]
    assert graph.cond.tolist() == [100.0]
    fields = graph.fields.numpy()
    assert np.isfinite(fields).all()

    pos = graph.pos.numpy()
    lid = (graph.boundary == 2).numpy()
    walls = (graph.boundary == 1).numpy() & (pos[:, 1] < 1.0 - 1e-9)  # not the top corners
    assert lid.sum() > 20 and walls.sum() > 60
    np.testing.assert_allclose(fields[:, lid, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(fields[:, lid, 1], 0.0, atol=1e-6)
    assert np.abs(fields[:, walls, :2]).max() < 1e-6
    # at rest before the start, moving everywhere after it
    interior = graph.boundary.numpy() == 0
    assert np.abs(fields[0, interior, :2]).max() < 1e-6
    assert np.abs(fields[-1, interior, 0]).max() > 0.1

    # steady primary vortex: Ghia et al. (1982) put it at (0.6172, 0.7344)
    x, y = lid_driven_cavity.vortex_centre(graph)
    assert 0.5 <= x <= 0.65 and 0.6 <= y <= 0.8, (x, y)


@requires_openfoam
@pytest.mark.openfoam
@pytest.mark.slow
def test_datagen_writes_a_loadable_dataset(tmp_path: Path) -> None:
    """One short run through ``datagen`` and back through ``load_dataset``."""
    from meshfield.cases.datagen import datagen
    from meshfield.data.dataset import load_dataset

    raw = _raw(
        time={"spin_up": 0.0, "end": 0.5, "interval": 0.25},
        conditions={"Re": {"units": "1", "train": [100.0]}},
        mesh={"generator": "unit_square", "params": {"size": 0.1, "size_wall": 0.05}},
        solver={"name": "icoFoam", "settings": {"delta_t": 0.01}},
    )
    out = datagen(load_spec(raw), tmp_path / "data", progress=False)
    dataset = load_dataset(out, split="train")
    assert len(dataset) == 1
    graph = dataset[0]
    assert graph.fields.shape[0] == 3 and graph.field_names == ["U_x", "U_y", "p"]
    assert graph.cond.tolist() == [100.0]
