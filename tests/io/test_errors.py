"""Bad input gives one clear error each: its class, the input it names and the problem."""

from __future__ import annotations

import sys
from pathlib import Path

import meshio
import numpy as np
import pytest
import pyvista as pv

from meshfield.data import validate
from meshfield.errors import (
    MeshFileNotFoundError,
    MeshFormatError,
    MeshValidationError,
    MissingDependencyError,
)
from meshfield.io import load_mesh, to_pyvista

TRIANGLE = [("triangle", np.array([[0, 1, 2]]))]
POINTS = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.vtu"
    with pytest.raises(MeshFileNotFoundError, match="absent.vtu"):
        load_mesh(path)
    with pytest.raises(FileNotFoundError):  # catchable as the built-in error too
        load_mesh(str(path))


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "mesh.xyz123"
    path.write_text("1 2 3\n")
    with pytest.raises(MeshFormatError, match=r"'\.xyz123'.*supported: .*\.msh.*\.vtu"):
        load_mesh(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("corrupt.msh", "$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Nodes\nnot numbers\n"),
        ("corrupt.vtu", "<VTKFile type='UnstructuredGrid'><garbage"),
        ("corrupt.vtk", "# vtk DataFile Version 5.1\ngarbage\n"),
        ("corrupt.stl", "solid x\n  facet normal nonsense\n"),
        ("corrupt.pvd", "<VTKFile type='Collection'><Collection><DataSet file='nope.vtu'"),
    ],
)
def test_corrupt_file(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MeshFormatError, match=name) as info:
        load_mesh(path)
    assert info.value.__cause__ is not None  # the library's own exception is kept


def test_empty_mesh(tmp_path: Path) -> None:
    with pytest.raises(MeshValidationError, match="empty"):
        load_mesh(meshio.Mesh(np.zeros((0, 3)), []))
    path = tmp_path / "empty.vtk"
    meshio.write(path, meshio.Mesh(np.zeros((0, 3)), []))
    with pytest.raises(MeshValidationError, match="empty.vtk.*empty"):
        load_mesh(path)


def test_nan_coordinates(tmp_path: Path) -> None:
    points = POINTS.copy()
    points[1, 0] = np.nan
    path = tmp_path / "nan.vtu"
    meshio.write(path, meshio.Mesh(points, TRIANGLE))
    with pytest.raises(MeshValidationError, match=r"nan.vtu.*NaN or infinite.*point 1"):
        load_mesh(path)
    points[1, 0] = np.inf
    with pytest.raises(MeshValidationError, match="NaN or infinite"):
        load_mesh(meshio.Mesh(points, TRIANGLE))


def test_cell_index_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "bad.off"
    path.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    with pytest.raises(MeshValidationError, match=r"bad.off.*node 7.*3 points"):
        load_mesh(path)
    with pytest.raises(MeshValidationError, match="out of range"):
        load_mesh(meshio.Mesh(POINTS, [("triangle", np.array([[0, 1, -1]]))]))


def test_field_length_matches_neither_points_nor_cells() -> None:
    # meshio checks lengths in its constructor only; a mesh changed afterwards gets through
    mesh = meshio.Mesh(POINTS, TRIANGLE)
    mesh.point_data["p"] = np.zeros(5)
    with pytest.raises(MeshValidationError, match=r"'p'.*5 rows.*3 points"):
        load_mesh(mesh)
    mesh = meshio.Mesh(POINTS, TRIANGLE)
    mesh.cell_data["nu"] = [np.zeros(4)]
    with pytest.raises(MeshValidationError, match=r"'nu'.*4 rows.*1 cells"):
        load_mesh(mesh)


def test_volume_cells_on_planar_points() -> None:
    points = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=float)
    mesh = meshio.Mesh(points, [("tetra", np.array([[0, 1, 2, 3]]))])
    with pytest.raises(MeshValidationError, match="mixed 2D/3D"):
        load_mesh(mesh)


def test_constant_z_is_accepted_as_2d() -> None:
    data = load_mesh(meshio.Mesh(POINTS + [0, 0, 3.0], TRIANGLE))
    assert data.pos.shape == (3, 2) and data.z0 == 3.0


def test_time_steps_on_different_meshes(tmp_path: Path) -> None:
    meshio.write(tmp_path / "a.vtu", meshio.Mesh(POINTS, TRIANGLE))
    meshio.write(tmp_path / "b.vtu", meshio.Mesh(POINTS[:, :2] * 2, TRIANGLE))
    with pytest.raises(MeshValidationError, match="share one mesh"):
        load_mesh([tmp_path / "a.vtu", tmp_path / "b.vtu"])


def test_duplicate_points_are_kept_and_reported() -> None:
    points = np.array([[0, 0], [1, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    cells = [("triangle", np.array([[0, 1, 2], [3, 4, 2]]))]
    data = load_mesh(meshio.Mesh(points, cells))
    assert data.pos.shape == (5, 2)
    warnings = validate(data)
    assert any("duplicate" in w for w in warnings)


def test_unknown_field_name() -> None:
    mesh = meshio.Mesh(POINTS, TRIANGLE, point_data={"p": np.zeros(3)})
    with pytest.raises(MeshValidationError, match=r"\['q'\].*available: \['p'\]"):
        load_mesh(mesh, fields=["q"])


def test_unsupported_object() -> None:
    with pytest.raises(MeshFormatError, match="dict"):
        load_mesh({"points": POINTS})


def test_multiblock_ambiguous_or_unknown_block() -> None:
    blocks = pv.MultiBlock({"fluid": pv.Sphere(), "solid": pv.Cube()})
    with pytest.raises(MeshFormatError, match=r"(?s)block=.*'fluid'.*'solid'"):
        load_mesh(blocks)
    with pytest.raises(MeshFormatError, match=r"(?s)no block named 'gas'.*'fluid'"):
        load_mesh(blocks, block="gas")
    with pytest.raises(MeshFormatError, match="no block 5"):
        load_mesh(blocks, block=5)


def test_missing_optional_dependency(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = load_mesh(meshio.Mesh(POINTS, TRIANGLE))
    monkeypatch.setitem(sys.modules, "pyvista", None)  # makes "import pyvista" fail
    with pytest.raises(MissingDependencyError, match="pip install pyvista"):
        to_pyvista(data)
    (tmp_path / "case" / "system").mkdir(parents=True)
    (tmp_path / "case" / "system" / "controlDict").write_text("")
    with pytest.raises(MissingDependencyError, match="pip install pyvista"):
        load_mesh(tmp_path / "case")
    # VTK files fall back to meshio's reader
    meshio.write(tmp_path / "m.vtu", meshio.Mesh(POINTS, TRIANGLE))
    assert load_mesh(tmp_path / "m.vtu").pos.shape == (3, 2)
