"""``datagen --from-runs``: finished OpenFOAM cases made without meshfield become a dataset."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from meshfield.cases import cylinder_wake
from meshfield.cases import openfoam as foam
from meshfield.cases.datagen import conditions_from_name, datagen
from meshfield.cli import main
from meshfield.data import load_dataset, load_spec
from meshfield.errors import SpecError

SPEC = Path(__file__).parents[2] / "data_specs" / "cylinder_wake.yaml"
TIME = {"spin_up": 0.5, "end": 1.0, "interval": 0.25}

requires_openfoam = pytest.mark.skipif(
    not foam.openfoam_available(("gmshToFoam", "foamDictionary", "pimpleFoam"))
    and not os.environ.get("MESHFIELD_REQUIRE_OPENFOAM"),
    reason="OpenFOAM is not installed (apt-get install -y openfoam)",
)


def _cylinder_spec(**changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load(SPEC.read_text())
    raw["mesh"]["params"].update(size_cylinder=0.2, size_wake=0.5, size_far=1.5)
    raw["time"] = dict(TIME)
    raw["conditions"] = {"Re": {"units": "1", "train": [100], "test": [150]}}
    raw.update(changes)
    return raw


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[float, Any]]:
    """Two short cylinder runs in a folder of their own, named as a user might name them,
    and what the case read from them right after solving."""
    root = tmp_path_factory.mktemp("runs")
    spec = load_spec(_cylinder_spec())
    folder = root / "my_runs"
    folder.mkdir()
    made = {}
    for reynolds, name in ((100.0, "Re=100"), (150.0, "cyl_Re150")):
        work = root / f"work{reynolds:g}"
        made[reynolds] = cylinder_wake.simulate(spec, {"Re": reynolds}, work)
        shutil.move(work / "case", folder / name)
    (folder / "notes").mkdir()  # a folder whose name gives no Re is ignored
    return folder, made


def test_conditions_from_names() -> None:
    assert conditions_from_name("Re=150", ["Re"]) == {"Re": 150.0}
    assert conditions_from_name("cyl_Re150_aoa-2.5e0", ["Re", "aoa"]) == {"Re": 150.0, "aoa": 2.5}
    assert conditions_from_name("Re_1e3", ["Re"]) == {"Re": 1000.0}
    assert conditions_from_name("PRe=3", ["Re"]) is None  # the name must stand alone
    assert conditions_from_name("Re=150", ["Re", "aoa"]) is None


@requires_openfoam
@pytest.mark.openfoam
def test_cylinder_runs_read_as_simulated(runs: tuple[Path, dict], tmp_path: Path) -> None:
    folder, made = runs
    out = datagen(_cylinder_spec(), tmp_path / "data", from_runs=folder)
    for split, reynolds in (("train", 100.0), ("test", 150.0)):
        graph = load_dataset(out, split)[0]
        torch.testing.assert_close(graph.fields, made[reynolds].fields, rtol=0, atol=0)
        torch.testing.assert_close(graph.pos, made[reynolds].pos)
        assert graph.boundary_names == made[reynolds].boundary_names
        assert graph.cond.tolist() == [reynolds]
    assert not (out / ".work").exists()


@requires_openfoam
@pytest.mark.openfoam
def test_any_planar_case_through_the_command(
    runs: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, made = runs
    spec = {
        "case": "openfoam_runs",
        "mesh": {"file": str(folder / "Re=100")},
        "pde": {"name": "navier_stokes", "constants": {"rho": 1.0}},
        "conditions": {"Re": {"units": "1", "train": [100, 150]}},
        "time": dict(TIME),
        "fields": {"U": "m/s", "p": "m^2/s^2"},
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "data"
    assert main(["datagen", str(path), "--out", str(out), "--from-runs", str(folder), "--quiet"]) == 0
    train = load_dataset(out, "train")
    assert train.run_ids == ["Re=100", "Re=150"] and train.field_names == ["U_x", "U_y", "p"]
    graph = train[1]
    torch.testing.assert_close(graph.fields, made[150.0].fields, rtol=0, atol=0)
    # every patch that is not empty is a group of its own name
    assert set(graph.boundary_names) == {"interior", "inlet", "outlet", "walls", "cylinder"}
    # a run that is not there is named, with the folders that were found
    spec["conditions"]["Re"]["train"] = [100, 175]
    path.write_text(yaml.safe_dump(spec))
    args = ["datagen", str(path), "--out", str(tmp_path / "other"), "--from-runs", str(folder)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no case folder for run train/Re=175" in err and "Re=100, cyl_Re150" in err


def test_what_cannot_be_imported(tiny_heat: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="heat_plate case cannot read runs made elsewhere"):
        datagen(copy.deepcopy(tiny_heat), tmp_path / "a", from_runs=tmp_path)
    spec = {
        "case": "openfoam_runs",
        "mesh": {"file": str(tmp_path)},
        "pde": {"name": "navier_stokes"},
        "conditions": {"Re": {"units": "1", "train": [100]}},
        "time": dict(TIME),
        "fields": {"U": "m/s"},
    }
    with pytest.raises(SpecError, match="reads finished runs: give the folder"):
        datagen(spec, tmp_path / "b")
    with pytest.raises(SpecError, match="no such folder"):
        datagen(spec, tmp_path / "c", from_runs=tmp_path / "nowhere")
