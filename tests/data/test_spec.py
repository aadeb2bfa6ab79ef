"""Data specs: every spec in data_specs/ loads, bad specs say what and where."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from meshfield.cases import CASES, get_case
from meshfield.data.spec import DataSpec, Run, TimeSpec, load_spec
from meshfield.errors import SpecError

SPEC_DIR = Path(__file__).resolve().parents[2] / "data_specs"
SPECS = sorted(SPEC_DIR.glob("*.yaml"))

BASE: dict[str, Any] = {
    "case": "taylor_green",
    "mesh": {"generator": "periodic_grid", "params": {"n": 8}},
    "pde": {"name": "navier_stokes", "constants": {"rho": 1.0}},
    "conditions": {"nu": {"units": "m^2/s", "train": [0.01, 0.02], "test": [0.05]}},
    "time": {"spin_up": 0.0, "end": 1.0, "interval": 0.25},
    "fields": {"U": "m/s", "p": "Pa"},
}


def spec_with(**changes: Any) -> dict[str, Any]:
    """BASE with top-level keys replaced (None removes a key)."""
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


def write(tmp_path: Path, name: str, spec: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


# --- the specs of the repository ---------------------------------------------------------------


def test_the_builtin_specs_are_there() -> None:
    names = {p.stem for p in SPECS}
    assert {"heat_plate", "taylor_green"} <= names


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_spec_loads_and_validates(path: Path) -> None:
    spec = load_spec(path)
    assert spec.case in CASES
    assert spec.source == str(path)
    runs = spec.runs()
    assert runs, "a spec without runs"
    assert len({r.key for r in runs}) == len(runs)
    assert "train" in spec.splits
    for run in runs:
        assert list(run.conditions) == spec.condition_names
        assert all(np.isfinite(v) for v in run.conditions.values())
    # the case module exists, imports, and accepts the spec
    module = get_case(spec.case)
    assert callable(module.simulate)
    if hasattr(module, "check_spec"):
        module.check_spec(spec)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_spec_survives_to_yaml(path: Path, tmp_path: Path) -> None:
    spec = load_spec(path)
    again = load_spec(write(tmp_path, path.name, yaml.safe_load(spec.to_yaml())))
    assert again == spec
    assert again.runs() == spec.runs()


def test_every_case_name_resolves_to_its_module() -> None:
    for name in ("heat_plate", "taylor_green"):
        assert get_case(name).__name__ == f"meshfield.cases.{name}"
    with pytest.raises(SpecError, match="did you mean 'heat_plate'"):
        get_case("heat_plat")


# --- runs ----------------------------------------------------------------------------------------


def test_runs_are_listed_per_split_with_ids_from_values() -> None:
    spec = load_spec(BASE)
    assert spec.runs() == [
        Run("train", "nu=0.01", {"nu": 0.01}),
        Run("train", "nu=0.02", {"nu": 0.02}),
        Run("test", "nu=0.05", {"nu": 0.05}),
    ]
    assert spec.splits == ("train", "test")
    assert [r.key for r in spec.runs(["test"])] == ["test/nu=0.05"]
    with pytest.raises(SpecError, match="splits"):
        spec.runs(["val"])


def test_integer_values_are_zero_padded() -> None:
    conditions = {"Re": {"units": "1", "train": [60, 100, 200], "val": [150]}}
    spec = load_spec(spec_with(conditions=conditions))
    assert [r.run_id for r in spec.runs()] == ["Re=060", "Re=100", "Re=200", "Re=150"]
    assert spec.runs()[0].conditions == {"Re": 60.0}


def test_product_and_zip_of_conditions() -> None:
    conditions = {
        "a": {"units": "1", "train": [1, 2, 3]},
        "b": {"units": "1", "train": [0.5, 0.25, 0.125]},
    }
    product = load_spec(spec_with(conditions=conditions))
    assert len(product.runs()) == 9
    zipped = load_spec(spec_with(conditions=conditions, combine="zip"))
    assert [r.run_id for r in zipped.runs()] == ["a=1,b=0.5", "a=2,b=0.25", "a=3,b=0.125"]


def test_sampled_conditions_are_reproducible() -> None:
    sampled = {"units": "1", "range": [60, 200], "train": 5, "val": 2, "test": 2, "seed": 3}
    one = load_spec(spec_with(conditions={"Re": sampled}))
    two = load_spec(spec_with(conditions={"Re": copy.deepcopy(sampled)}))
    assert one.runs() == two.runs()
    values = [r.conditions["Re"] for r in one.runs()]
    assert len(values) == 9 and len(set(values)) == 9
    assert all(60 <= v <= 200 for v in values)
    other = load_spec(spec_with(conditions={"Re": {**sampled, "seed": 4}}))
    assert other.runs() != one.runs()
    logs = {"units": "1", "range": [1e-3, 1.0], "scale": "log", "train": 200, "seed": 0}
    drawn = np.array(
        [r.conditions["nu"] for r in load_spec(spec_with(conditions={"nu": logs})).runs()]
    )
    # log-uniform: about half the samples below the geometric mean
    assert 0.35 < np.mean(drawn < np.sqrt(1e-3)) < 0.65


def test_time_window_and_steady() -> None:
    spec = load_spec(spec_with(time={"spin_up": 2.0, "end": 3.0, "interval": 0.2}))
    np.testing.assert_allclose(spec.time.snapshot_times(), [2.0, 2.2, 2.4, 2.6, 2.8, 3.0])
    assert spec.time.num_snapshots == 6
    steady = load_spec(spec_with(time={"steady": True}))
    assert steady.time == TimeSpec(steady=True)
    assert steady.time.snapshot_times().tolist() == [0.0]


def test_numeric_strings_are_numbers() -> None:
    # PyYAML reads 1e-3 (no dot) as a string
    spec = load_spec(yaml.safe_load(yaml.safe_dump(BASE).replace("0.01", "1e-2")))
    assert spec.runs()[0].conditions["nu"] == 0.01


def test_mesh_file_is_resolved_next_to_the_spec(tmp_path: Path) -> None:
    (tmp_path / "plate.msh").write_text("stand-in", encoding="utf-8")
    path = write(tmp_path, "s.yaml", spec_with(mesh={"file": "plate.msh"}))
    spec = load_spec(path)
    assert spec.mesh.file == (tmp_path / "plate.msh").resolve()
    assert spec.mesh.generator is None


def test_spec_is_a_frozen_dataclass() -> None:
    spec = load_spec(BASE)
    assert isinstance(spec, DataSpec)
    with pytest.raises(AttributeError):
        spec.case = "heat_plate"  # type: ignore[misc]


# --- bad specs -----------------------------------------------------------------------------------


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    bad = spec_with()
    bad["conditons"] = bad.pop("conditions")
    path = write(tmp_path, "typo.yaml", bad)
    with pytest.raises(SpecError, match=re.escape(f"{path}: conditons: unknown key")) as info:
        load_spec(path)
    assert "did you mean 'conditions'?" in str(info.value)


def test_unknown_nested_key_names_its_path() -> None:
    with pytest.raises(SpecError, match=r"^time\.intervall: unknown key .*did you mean 'interval'"):
        load_spec(spec_with(time={"end": 1.0, "intervall": 0.1}))


def test_wrong_type_names_key_and_value() -> None:
    with pytest.raises(SpecError, match=r"^time\.end: expected a number \(got str 'soon'\)"):
        load_spec(spec_with(time={"end": "soon", "interval": 0.1}))
    with pytest.raises(SpecError, match=r"^conditions\.nu\.units: expected a string"):
        load_spec(spec_with(conditions={"nu": {"units": 3, "train": [1.0]}}))
    with pytest.raises(SpecError, match=r"^fields: expected a mapping"):
        load_spec(spec_with(fields=["U", "p"]))


def test_negative_interval(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cylinder_wake.yaml",
        spec_with(time={"spin_up": 0.0, "end": 1.0, "interval": -0.2}),
    )
    expected = f"{path}: time.interval: expected a positive number (got -0.2)"
    with pytest.raises(SpecError, match=re.escape(expected)):
        load_spec(path)


def test_empty_split() -> None:
    with pytest.raises(SpecError, match=r"^conditions\.nu\.test: expected at least one value"):
        load_spec(spec_with(conditions={"nu": {"units": "1", "train": [0.1], "test": []}}))
    sampled = {"units": "1", "range": [1, 2], "train": 0}
    with pytest.raises(SpecError, match=r"^conditions\.nu\.train: expected a positive number"):
        load_spec(spec_with(conditions={"nu": sampled}))


def test_unknown_case() -> None:
    with pytest.raises(SpecError, match=r"^case: unknown case 'taylor_gren'.*did you mean"):
        load_spec(spec_with(case="taylor_gren"))


def test_end_before_spin_up() -> None:
    with pytest.raises(SpecError, match=r"^time\.end: expected end > spin_up = 5"):
        load_spec(spec_with(time={"spin_up": 5.0, "end": 5.0, "interval": 0.1}))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"case": None}, r"^case: missing required key"),
        ({"time": {"steady": True, "end": 2.0}}, r"^time\.end: a steady case"),
        ({"time": {"end": 1.0}}, r"^time\.interval: missing required key"),
        ({"time": {"end": 1.0, "interval": 2.0}}, r"^time\.interval: expected at most"),
        ({"time": {"spin_up": -1.0, "end": 1.0, "interval": 0.5}}, r"^time\.spin_up"),
        ({"time": {"end": float("nan"), "interval": 0.5}}, r"^time\.end: expected a finite"),
        ({"mesh": {"generator": "g", "file": "f"}}, r"^mesh: expected either"),
        ({"mesh": {"file": "no/such.msh"}}, r"^mesh\.file: no such file"),
        ({"pde": {"constants": {}}}, r"^pde\.name: missing required key"),
        ({"fields": {}}, r"^fields: expected at least one field"),
        ({"fields": {"U x": "m/s"}}, r"^fields\.U x: expected a name"),
        ({"output": {"dtype": "float31"}}, r"^output\.dtype: .*did you mean 'float32'"),
        ({"combine": "outer"}, r"^combine: expected one of"),
        ({"conditions": {}}, r"^conditions: expected at least one condition"),
        ({"conditions": {"nu": {"units": "1", "train": 0.1}}}, r"expected a list of numbers"),
        ({"conditions": {"nu": {"units": "1", "train": [0.1, 0.1]}}}, r"distinct values"),
        ({"conditions": {"nu": {"units": "1", "val": [0.1]}}}, r"nu\.train: missing required"),
        ({"conditions": {"nu": {"units": "1", "range": [2, 1], "train": 3}}}, r"lo < hi"),
        (
            {"conditions": {"nu": {"units": "1", "range": [0, 1], "train": 3, "scale": "log"}}},
            r"log sampling needs lo > 0",
        ),
        (
            {
                "conditions": {
                    "nu": {"units": "1", "train": [1.0], "test": [2.0]},
                    "Re": {"units": "1", "train": [1.0]},
                }
            },
            r"^conditions\.Re: expected the splits of conditions\.nu",
        ),
        (
            {
                "conditions": {
                    "a": {"units": "1", "train": [1.0, 2.0]},
                    "b": {"units": "1", "train": [1.0]},
                },
                "combine": "zip",
            },
            r"^combine: zip needs the same number",
        ),
        ({"solver": {"settings": {}}}, r"^solver\.name: missing required key"),
        # settings are plain data at load_spec: nothing that could become solver-file syntax
        (
            {"solver": {"name": "s", "settings": {"max_co": "0.8; functions { x { type "
             'systemCall; executeCalls ("touch x"); } }'}}},
            r"^solver\.settings\.max_co: expected a number, true/false or one word",
        ),
        (
            {"solver": {"name": "s", "settings": {"scheme": "Gauss linear"}}},
            r"^solver\.settings\.scheme: expected .* one word",
        ),
        (
            {"solver": {"name": "s", "settings": {"dt": float("inf")}}},
            r"^solver\.settings\.dt: expected a finite number",
        ),
        (
            {"solver": {"name": "s", "settings": {"nested": {"a": 1}}}},
            r"^solver\.settings\.nested: expected a number, true/false, one word or a list",
        ),
        (
            {"mesh": {"generator": "g", "params": {"holes": [[0.1, 0.2, "r; x"]]}}},
            r"^mesh\.params\.holes\[0\]\[2\]: expected",
        ),
        (
            {"mesh": {"generator": "g", "params": {"deep": [[[[1.0]]]]}}},
            r"^mesh\.params\.deep\[0\]\[0\]\[0\]: expected .* or a list of these",
        ),
        (
            {"mesh": {"generator": "g", "params": {"big": [0.0] * 20_000}}},
            r"^mesh\.params: more than 10000 values",
        ),
        (
            {"solver": {"name": "s", "settings": {"bad key": 1}}},
            r"^solver\.settings key: expected a name",
        ),
    ],
)
def test_bad_values_name_their_key(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        load_spec(spec_with(**changes))


def test_not_a_mapping_and_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(SpecError, match="expected a mapping of keys"):
        load_spec(path)
    path.write_text("case: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)
    with pytest.raises(FileNotFoundError, match="no such data spec"):
        load_spec(tmp_path / "missing.yaml")


def test_spec_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        load_spec(spec_with(case="nope"))


def test_values_in_two_splits_warn() -> None:
    conditions = {"nu": {"units": "1", "train": [0.1, 0.2], "test": [0.2]}}
    with pytest.warns(UserWarning, match="nu=0.2 is in both train and test"):
        load_spec(spec_with(conditions=conditions))


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    # nested aliases blow a few kilobytes up into gigabytes: a spec is plain data
    from meshfield.data import load_spec
    from meshfield.errors import SpecError

    text = Path("data_specs/cylinder_wake.yaml").read_text()
    bomb = "\n".join(
        [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]" if i else "x0: &x0 [lol]"
         for i in range(12)]
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(text.replace("solver:\n", f"junk:\n  {bomb.replace(chr(10), chr(10) + '  ')}\nsolver:\n", 1))
    with pytest.raises(SpecError, match=r"line \d+: YAML aliases \(\*x0\) are not allowed"):
        load_spec(path)
    big = tmp_path / "big.yaml"
    big.write_text(text + "#" * (2 << 20))
    with pytest.raises(SpecError, match="too large"):
        load_spec(big)


def test_a_registered_case_is_valid_in_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    # the spec's case check reads the registry of the data layer, where register_case adds
    import meshfield.cases
    from meshfield.data import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    spec = spec_with(case="my_case")
    with pytest.raises(SpecError, match="unknown case 'my_case'"):
        load_spec(spec)
    assert "my_case" not in meshfield.cases.CASES
    meshfield.cases.register_case("my_case", "my_package.my_case")
    assert "my_case" in meshfield.cases.CASES
    assert load_spec(spec).case == "my_case"
    assert meshfield.cases.case_module("my_case") == "my_package.my_case"


def test_plain_settings_load() -> None:
    spec = load_spec(
        spec_with(
            mesh={"generator": "g", "params": {"holes": [[0.5, 0.5, 0.1]], "n": 8, "q": None}},
            solver={"name": "s", "settings": {"scheme": "linearUpwind", "on": True, "dt": 0.1}},
        )
    )
    assert spec.mesh.params == {"holes": [[0.5, 0.5, 0.1]], "n": 8, "q": None}
    assert spec.solver.settings == {"scheme": "linearUpwind", "on": True, "dt": 0.1}
