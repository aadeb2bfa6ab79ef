"""datagen: the dataset layout, resuming after failures and interrupts, and the process pool."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from meshfield.cases import heat_plate
from meshfield.cases.datagen import DatagenError, datagen, finish_graph
from meshfield.cli.datagen import main
from meshfield.data import load_dataset, load_spec
from meshfield.data.store import load_graph
from meshfield.errors import MeshValidationError, SpecError

SIMULATE = heat_plate.simulate  # the real one, before any test replaces it

RUN_IDS = {
    "train": [
        "alpha=0.02,T_left=1.5,T_hole=-0.5",
        "alpha=0.05,T_left=1.5,T_hole=-0.5",
        "alpha=0.1,T_left=1.5,T_hole=-0.5",
    ],
    "val": ["alpha=0.03,T_left=1.5,T_hole=-0.5"],
    "test": ["alpha=0.07,T_left=1.5,T_hole=-0.5"],
}


@pytest.fixture
def spec_file(tiny_heat: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "heat.yaml"
    path.write_text(yaml.safe_dump(tiny_heat, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory, tiny_heat_shared: dict[str, Any]) -> Path:
    """The tiny heat dataset made with one job (shared by the tests that only read it)."""
    spec = load_spec(tiny_heat_shared)
    return datagen(spec, tmp_path_factory.mktemp("serial"), progress=False)


def counting(
    monkeypatch: pytest.MonkeyPatch, fail: Callable[[int, dict], None] | None = None
) -> list[dict[str, float]]:
    """Replace heat_plate.simulate by a wrapper that records calls and may fail."""
    calls: list[dict[str, float]] = []
    original = SIMULATE

    def simulate(spec: Any, conditions: dict[str, float], workdir: Path) -> Any:
        calls.append(dict(conditions))
        assert workdir.is_dir() and not any(workdir.iterdir())
        if fail is not None:
            fail(len(calls), conditions)
        return original(spec, conditions, workdir)

    monkeypatch.setattr(heat_plate, "simulate", simulate)
    return calls


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.glob("*/*.safetensors")}


def test_layout_and_index(serial: Path) -> None:
    assert sorted(p.name for p in serial.iterdir()) == [
        "index.json",
        "spec.yaml",
        "test",
        "train",
        "val",
    ]  # no .work left after success
    for split, run_ids in RUN_IDS.items():
        assert sorted(p.stem for p in (serial / split).iterdir()) == sorted(run_ids)
    index = json.loads((serial / "index.json").read_text())
    assert index["complete"] is True and index["failed"] == {}
    assert index["case"] == "heat_plate"
    assert index["splits"] == RUN_IDS
    assert index["fields"] == {"names": ["T"], "units": ["K"]}
    assert index["conditions"] == {
        "alpha": {"units": "m^2/s"},
        "T_left": {"units": "K"},
        "T_hole": {"units": "K"},
    }
    assert index["times"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert index["runs"][0]["conditions"] == {"alpha": 0.02, "T_left": 1.5, "T_hole": -0.5}
    # the copied spec loads to the same spec
    assert (
        load_spec(serial / "spec.yaml").runs()
        == load_spec(yaml.safe_load((serial / "spec.yaml").read_text())).runs()
    )


def test_load_dataset_reads_the_runs(serial: Path) -> None:
    train = load_dataset(serial, split="train")
    assert len(train) == 3
    for graph, run_id in zip(train, RUN_IDS["train"], strict=True):
        assert graph.run_id == run_id
        assert graph.fields.dtype == torch.float32
        assert graph.fields.shape == (5, graph.num_nodes, 1)
        assert torch.isfinite(graph.fields).all()
        names = graph.boundary_names
        temperature = graph.fields[..., 0]
        assert (temperature[:, graph.boundary == names.index("left")] == 1.5).all()
        assert (temperature[:, graph.boundary == names.index("holes")] == -0.5).all()
        assert graph.cond_names == ["alpha", "T_left", "T_hole"]
    assert float(load_dataset(serial, split="val")[0].cond[0]) == pytest.approx(0.03)


def test_failed_run_is_reported_and_resumed(
    spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"

    def fail(call: int, conditions: dict[str, float]) -> None:
        if conditions["alpha"] == 0.05:
            raise RuntimeError("solver diverged")

    calls = counting(monkeypatch, fail)
    with pytest.raises(DatagenError) as info:
        datagen(spec_file, out, progress=False)
    message = str(info.value)
    assert "1 of 5 runs failed" in message
    assert f"train/{RUN_IDS['train'][1]}: RuntimeError: solver diverged" in message
    assert len(calls) == 5  # the other runs went on
    assert (out / ".work" / "train" / RUN_IDS["train"][1]).is_dir()  # kept for inspection
    index = json.loads((out / "index.json").read_text())
    assert index["complete"] is False and list(index["failed"]) == [f"train/{RUN_IDS['train'][1]}"]
    assert len(load_dataset(out)) == 2
    before = mtimes(out)
    assert len(before) == 4

    calls = counting(monkeypatch)
    datagen(spec_file, out, progress=False)
    assert [c["alpha"] for c in calls] == [0.05]  # only the missing run
    after = mtimes(out)
    assert len(after) == 5
    assert all(after[k] == t for k, t in before.items())  # finished runs untouched
    assert not (out / ".work").exists()
    assert json.loads((out / "index.json").read_text())["complete"] is True


def test_interrupted_generation_resumes(
    spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serial: Path
) -> None:
    out = tmp_path / "data"

    def interrupt(call: int, conditions: dict[str, float]) -> None:
        if call == 3:
            raise KeyboardInterrupt

    counting(monkeypatch, interrupt)
    with pytest.raises(KeyboardInterrupt):
        datagen(spec_file, out, progress=False)
    assert len(mtimes(out)) == 2
    calls = counting(monkeypatch)
    datagen(spec_file, out, progress=False)
    assert len(calls) == 3
    # the resumed dataset equals the one made in one go
    for name in mtimes(serial):
        assert torch.equal(load_graph(out / name).fields, load_graph(serial / name).fields)


@pytest.mark.slow  # two fresh worker processes import torch and PyG
def test_two_jobs_give_identical_files(spec_file: Path, tmp_path: Path, serial: Path) -> None:
    # two runs, one per worker: starting the workers is most of the cost
    out = datagen(spec_file, tmp_path / "pool", jobs=2, splits=["val", "test"], progress=False)
    names = sorted(mtimes(out))
    assert names == sorted(n for n in mtimes(serial) if not n.startswith("train"))
    for name in names:
        a, b = load_graph(out / name), load_graph(serial / name)
        assert torch.equal(a.fields, b.fields)
        assert torch.equal(a.pos, b.pos)
        assert torch.equal(a.cells["triangle"], b.cells["triangle"])
    index = json.loads((out / "index.json").read_text())
    assert index["splits"] == {"val": RUN_IDS["val"], "test": RUN_IDS["test"]}
    assert not (out / ".work").exists()


def test_only_selected_splits(spec_file: Path, tmp_path: Path) -> None:
    out = datagen(spec_file, tmp_path / "d", splits=["val"], progress=False)
    assert sorted(mtimes(out)) == [f"val/{RUN_IDS['val'][0]}.safetensors"]
    index = json.loads((out / "index.json").read_text())
    assert index["complete"] is False and index["splits"] == {"val": RUN_IDS["val"]}


def test_a_folder_of_another_spec_is_refused(
    spec_file: Path, tmp_path: Path, tiny_heat: dict[str, Any]
) -> None:
    out = tmp_path / "d"
    datagen(spec_file, out, splits=["test"], progress=False)
    changed = copy.deepcopy(tiny_heat)
    changed["time"]["end"] = 2.0
    with pytest.raises(SpecError, match="different spec"):
        datagen(changed, out, progress=False)
    changed = copy.deepcopy(tiny_heat)
    changed["description"] = "same runs, other words"
    datagen(changed, out, splits=["test"], progress=False)


def test_stale_scratch_folder_is_replaced(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "d"
    stale = out / ".work" / "val" / RUN_IDS["val"][0]
    stale.mkdir(parents=True)
    (stale / "leftover").write_text("from a killed run")
    datagen(spec_file, out, splits=["val"], progress=False)
    assert not (out / ".work").exists()


def test_command_line(spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from meshfield.cli import main as meshfield_main

    out = tmp_path / "cli"
    code = main([str(spec_file), "--out", str(out), "--split", "test", "--quiet"])
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    code = meshfield_main(
        ["datagen", str(spec_file), "--out", str(out), "--split", "val", "--quiet"]
    )
    assert code == 0
    assert sorted(p.parent.name for p in out.glob("*/*.safetensors")) == ["test", "val"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("case: heat_plate\ntime: {interval: -1}\n")
    assert main([str(bad), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "bad.yaml" in capsys.readouterr().err


def test_command_line_exit_status_on_failure(
    spec_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    def fail(call: int, conditions: dict[str, float]) -> None:
        raise ValueError("no convergence")

    counting(monkeypatch, fail)
    code = main([str(spec_file), "--out", str(tmp_path / "d"), "--split", "val", "--quiet"])
    assert code == 1
    assert "val/alpha=0.03,T_left=1.5,T_hole=-0.5: ValueError: no convergence" in (
        capsys.readouterr().err
    )


def test_result_must_match_the_spec(tiny_heat: dict[str, Any]) -> None:
    spec = load_spec(tiny_heat)
    conditions = {"alpha": 0.05, "T_left": 1.0, "T_hole": 0.0}
    graph = heat_plate.simulate(spec, conditions, Path("."))
    graph.field_names = ["U"]
    with pytest.raises(
        MeshValidationError, match=r"unknown channels \['U'\].*without channels \['T'\]"
    ):
        finish_graph(graph, spec, "train", "r", conditions)
    del graph.fields
    with pytest.raises(MeshValidationError, match="returned no 'fields'"):
        finish_graph(graph, spec, "train", "r", conditions)


def test_bad_jobs(spec_file: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="jobs: expected a positive"):
        datagen(spec_file, tmp_path, jobs=0)


def test_a_rerun_redoes_truncated_or_corrupted_runs(
    spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serial: Path
) -> None:
    import shutil

    out = tmp_path / "data"
    shutil.copytree(serial, out)
    names = sorted(mtimes(out))
    broken, empty = out / names[0], out / names[1]
    broken.write_bytes(broken.read_bytes()[:-100])
    empty.write_bytes(b"")
    calls = counting(monkeypatch)
    with pytest.warns(RuntimeWarning, match="running it again"):
        datagen(spec_file, out, progress=False)
    assert len(calls) == 2
    for name in names:
        assert torch.equal(load_graph(out / name).fields, load_graph(serial / name).fields)


def test_the_command_moved_to_cli_with_deprecated_aliases() -> None:
    import meshfield.cases.datagen as old
    import meshfield.cli.datagen as new

    for name in ("add_arguments", "build_parser", "main", "run_from_args"):
        with pytest.warns(DeprecationWarning, match=f"moved to meshfield.cli.datagen.{name}"):
            assert getattr(old, name) is getattr(new, name)
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018
