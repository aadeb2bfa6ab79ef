"""The OpenFOAM driver: dictionaries, tools, function-object tables and the 2D reader."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from meshfield.cases import openfoam as foam
from meshfield.errors import MeshFormatError, MissingDependencyError

# OpenFOAM tests run wherever OpenFOAM is installed; CI sets MESHFIELD_REQUIRE_OPENFOAM=1 so
# that a missing installation fails there instead of skipping.
requires_openfoam = pytest.mark.skipif(
    not foam.openfoam_available(("foamDictionary", "gmshToFoam"))
    and not os.environ.get("MESHFIELD_REQUIRE_OPENFOAM"),
    reason="OpenFOAM is not installed (apt-get install -y openfoam)",
)


# ---------------------------------------------------------------------------------------------
# dictionaries
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (0.5, "0.5"),
        (2.0, "2"),
        (1e-6, "1e-06"),
        (np.float32(0.25), "0.25"),
        ((1, 0, 0), "(1 0 0)"),
        ([(0, 1.5), (2, 0)], "((0 1.5) (2 0))"),
        (np.array([1.0, 2.0]), "(1 2)"),
        ("Gauss linear", "Gauss linear"),
        (foam.Uniform(0.0), "uniform 0"),
        (foam.Uniform((1.0, 0.0, 0.0)), "uniform (1 0 0)"),
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert foam.format_value(value) == text


def test_format_value_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError, match="cannot write a dict"):
        foam.format_value({"a": 1})
    with pytest.raises(ValueError, match="non-finite"):
        foam.format_value(float("nan"))


def test_write_foam_dict_header_and_nesting(tmp_path: Path) -> None:
    from foamlib import FoamFile

    path = foam.write_foam_dict(
        tmp_path / "system" / "fvSolution",
        {
            "solvers": {"p": {"tolerance": 1e-6}, '"(U|UFinal)"': {"relTol": 0}},
            "div(phi,U)": "Gauss linearUpwind grad(U)",
            "omega": "table ((0 1) (2 0))",
            "inlet": foam.Uniform((1.0, 0.0, 0.0)),
            "flag": None,
        },
    )
    read = FoamFile.loads(path.read_text(), include_header=True)
    assert read["FoamFile"]["class"] == "dictionary"
    assert read["FoamFile"]["object"] == "fvSolution"
    assert '"system"' in path.read_text()
    assert read["solvers"]["p"]["tolerance"] == 1e-6
    assert read['"(U|UFinal)"' if '"(U|UFinal)"' in read else "solvers"]
    assert read["solvers"]['"(U|UFinal)"']["relTol"] == 0
    assert read["div(phi,U)"] == ("Gauss", "linearUpwind", "grad(U)")
    assert read["omega"] == ("table", [[0, 1], [2, 0]])
    assert "inlet uniform (1.0 0.0 0.0);" in path.read_text()
    assert read["flag"] is None


@pytest.mark.parametrize(
    "value",
    [
        '0.8; functions { x { type systemCall; executeCalls ("touch x"); } }',
        "1; #include \"/etc/passwd\"",
        "Gauss linear; } evil { a 1",
    ],
)
def test_write_foam_dict_refuses_a_value_that_opens_another_entry(
    tmp_path: Path, value: str
) -> None:
    # the dictionary writer (foamlib) parses every string as exactly one value
    with pytest.raises(ValueError, match="controlDict: maxCo: not "):
        foam.write_foam_dict(tmp_path / "controlDict", {"maxCo": value})
    assert not (tmp_path / "controlDict").exists()


def test_write_field_picks_the_class(tmp_path: Path) -> None:
    from foamlib import FoamFile

    vector = foam.write_field(tmp_path, "U", "[0 1 -1 0 0 0 0]", (1.0, 0.0, 0.0), {})
    scalar = foam.write_field(
        tmp_path, "p", "[0 2 -2 0 0 0 0]", 0.0, {"out": {"type": "fixedValue", "value": foam.Uniform(0.0)}}
    )
    read = FoamFile.loads(vector.read_text(), include_header=True)
    assert read["FoamFile"]["class"] == "volVectorField"
    assert "internalField uniform (1.0 0.0 0.0);" in vector.read_text()
    assert FoamFile.loads(scalar.read_text(), include_header=True)["FoamFile"]["class"] == "volScalarField"
    assert "value uniform 0.0;" in scalar.read_text()


@requires_openfoam
@pytest.mark.openfoam
def test_foam_dictionary_reads_what_we_write(tmp_path: Path) -> None:
    path = foam.write_foam_dict(
        tmp_path / "system" / "fvSolution",
        {
            "solvers": {"p": {"solver": "PCG", "tolerance": 1e-6}},
            "PISO": {"nCorrectors": 2},
        },
    )
    foam.set_entry(path, "PISO/nCorrectors", 3)

    def value(entry: str) -> str:
        result = subprocess.run(
            ["foamDictionary", str(path), "-entry", entry, "-value"],
            env=foam.openfoam_environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    assert value("solvers/p/solver") == "PCG"
    assert float(value("solvers/p/tolerance")) == 1e-6
    assert value("PISO/nCorrectors") == "3"


# ---------------------------------------------------------------------------------------------
# environment and tools
# ---------------------------------------------------------------------------------------------


def test_missing_openfoam_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(foam.OpenFOAMNotFoundError, match="apt-get install -y openfoam") as info:
        foam.check_openfoam(("pimpleFoam",), case="cylinder_wake")
    assert isinstance(info.value, MissingDependencyError)
    assert "pimpleFoam" in str(info.value) and "WM_PROJECT_DIR" in str(info.value)
    assert not foam.openfoam_available(("pimpleFoam",))


def test_missing_tutorials_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOAM_TUTORIALS", str(tmp_path))
    monkeypatch.setattr(foam, "TUTORIAL_DIRS", (str(tmp_path / "nowhere"),))
    with pytest.raises(foam.OpenFOAMNotFoundError, match="openfoam-examples"):
        foam.tutorial_dir("incompressible/simpleFoam/airFoil2D")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert foam.tutorial_dir("a/b") == tmp_path / "a" / "b"


def test_environment_sets_the_project_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WM_PROJECT_DIR", raising=False)
    env = foam.openfoam_environment()
    if Path(foam.DEFAULT_PROJECT_DIR, "etc").is_dir():
        assert env["WM_PROJECT_DIR"] == foam.DEFAULT_PROJECT_DIR
    monkeypatch.setenv("WM_PROJECT_DIR", "/opt/of")
    assert foam.openfoam_environment()["WM_PROJECT_DIR"] == "/opt/of"


@requires_openfoam
@pytest.mark.openfoam
def test_failing_tool_raises_with_the_log_tail(tmp_path: Path) -> None:
    foam.write_foam_dict(tmp_path / "system" / "controlDict", {"application": "none"})
    with pytest.raises(foam.OpenFOAMError, match="foamDictionary failed") as info:
        foam.run_tool("foamDictionary", tmp_path, "system/missingDict")
    assert "last lines of" in str(info.value)
    assert (tmp_path / "log.foamDictionary").is_file()


# ---------------------------------------------------------------------------------------------
# function-object tables
# ---------------------------------------------------------------------------------------------


def _table(path: Path, rows: list[tuple[float, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Force coefficients", "# Time  Cd  Cl"]
    lines += [f"{t}\t{1.0 + t}\t{c}" for t, c in rows]
    path.write_text("\n".join(lines) + "\n")


def test_read_function_object_joins_restarts(tmp_path: Path) -> None:
    root = tmp_path / "postProcessing" / "forceCoeffs"
    _table(root / "0" / "coefficient.dat", [(0.5, 0.1), (1.0, 0.2), (1.5, 0.3)])
    # a restart from t = 1 rewrites the rows from t = 1 on
    _table(root / "1" / "coefficient.dat", [(1.0, -0.2), (2.0, -0.4)])
    table = foam.read_function_object(tmp_path, "forceCoeffs")
    assert list(table) == ["Time", "Cd", "Cl"]
    np.testing.assert_allclose(table["Time"], [0.5, 1.0, 2.0])
    np.testing.assert_allclose(table["Cl"], [0.1, -0.2, -0.4])


def test_read_function_object_missing(tmp_path: Path) -> None:
    with pytest.raises(MeshFormatError, match="no table of function object 'forces'"):
        foam.read_function_object(tmp_path, "forces")


# ---------------------------------------------------------------------------------------------
# the 2D reader, on a case written but not run (the 0 folder holds the boundary values)
# ---------------------------------------------------------------------------------------------


@requires_openfoam
@pytest.mark.openfoam
def test_read_planar_on_a_fresh_case(tmp_path: Path) -> None:
    import gmsh  # noqa: F401

    from meshfield.cases import lid_driven_cavity as cavity
    from meshfield.data import validate

    params = {"size": 0.2, "size_wall": 0.1}
    case = cavity.setup_case(tmp_path / "case", 100.0, end=0.1, interval=0.1, mesh=params)
    default = foam.read_planar(case)
    assert sorted(default.boundary_names) == ["fixedWalls", "interior", "movingWall"]
    graph = foam.read_planar(
        case,
        fields=("U", "p"),
        patches=("fixedWalls", "movingWall"),
        cond={"Re": 100.0},
    )
    assert validate(graph) == []
    assert graph.field_names == ["U_x", "U_y", "p"]
    assert graph.boundary_names == ["interior", "fixedWalls", "movingWall"]
    assert graph.times.tolist() == [0.0]
    assert graph.cond.tolist() == [100.0] and graph.cond_names == ["Re"]

    # one 2D node per gmsh node of the square, in a fixed order, and CCW triangles
    pos = graph.pos.numpy()
    assert pos.shape[1] == 2
    np.testing.assert_allclose(pos.min(axis=0), [0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(pos.max(axis=0), [1.0, 1.0], atol=1e-7)
    tri = graph.cells["triangle"].numpy()
    a, b, c = pos[tri[:, 0]], pos[tri[:, 1]], pos[tri[:, 2]]
    area = 0.5 * ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    assert (area > 0).all()
    assert area.sum() == pytest.approx(1.0, rel=1e-6)

    # boundary values of the 0 folder reach the boundary nodes
    # (the two top corners belong to the walls, the group listed first)
    lid = (graph.boundary == 2).numpy()
    assert np.isclose(pos[lid, 1], 1.0).all()
    np.testing.assert_allclose(graph.fields[0, lid, 0].numpy(), 1.0, atol=1e-6)
    walls = (graph.boundary == 1).numpy() & (pos[:, 1] < 1.0 - 1e-9)
    assert walls.sum() > 10
    assert np.abs(graph.fields[0, walls, :2].numpy()).max() < 1e-6

    # the same recipe gives the same node order; patches can be renamed and reordered
    again = cavity.setup_case(tmp_path / "again", 300.0, end=0.1, interval=0.1, mesh=params)
    other = foam.read_planar(again, patches={"fixedWalls": "walls", "movingWall": "lid"})
    assert other.boundary_names == ["interior", "walls", "lid"]
    np.testing.assert_array_equal(other.pos.numpy(), pos)
    polygons = foam.read_planar(again, triangulate=False)
    assert set(polygons.cells) == {"triangle"}
    with pytest.raises(MeshFormatError, match=r"no time folder in \(5.0, 6.0\)"):
        foam.read_planar(again, time_range=(5.0, 6.0))


def test_read_planar_needs_a_mesh(tmp_path: Path) -> None:
    foam.write_foam_dict(tmp_path / "system" / "controlDict", {"application": "none"})
    with pytest.raises(MeshFormatError, match="no mesh to read"):
        foam.read_planar(tmp_path)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_co": '0.8; functions { x { type systemCall; executeCalls ("touch x"); } }'},
         "solver.settings.max_co: expected a finite number"),
        ({"max_co": "0.8"}, "expected a finite number"),
        ({"max_co": float("nan")}, "expected a finite number"),
        ({"n_correctors": True}, "expected a finite number"),
        ({"timeout": "forever"}, "solver.settings.timeout"),
    ],
)
def test_spec_settings_are_plain_values(settings: dict, message: str) -> None:
    # spec values go into OpenFOAM dictionaries: only values of the default's kind pass
    from meshfield.cases import cylinder_wake
    from meshfield.cases.openfoam import merge_settings
    from meshfield.errors import SpecError

    with pytest.raises(SpecError, match=message):
        merge_settings(settings, cylinder_wake.DEFAULT_SOLVER, "solver.settings", "cylinder_wake")
    merged = merge_settings({"max_co": 0.5, "timeout": 60}, cylinder_wake.DEFAULT_SOLVER,
                            "solver.settings", "cylinder_wake")
    assert merged["max_co"] == 0.5 and merged["timeout"] == 60
