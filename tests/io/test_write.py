"""Writers: every format reads back exactly (points bitwise, cells, boundary, fields, names)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import meshio
import numpy as np
import pytest
import pyvista as pv
import torch

from meshfield.data import mesh_graph
from meshfield.errors import MeshFileNotFoundError, MeshFormatError
from meshfield.io import load_mesh, save, to_meshio, to_pyvista
from meshfield.testing.roundtrip import assert_roundtrip

FORMATS = [".vtu", ".vtk", ".xdmf", ".pvd"]


def _graph(*, steps: int = 1, planar: bool = True):
    """Triangles and quads with a boundary line, named groups, vector/scalar/tensor fields,
    cell data, conditions and times; coordinates that are not round in binary."""
    rng = np.random.default_rng(0)
    pos = np.array(
        [[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1], [0.5, 2], [1.5, 2]], dtype=np.float64
    ) + rng.normal(scale=1e-3, size=(8, 2))
    if not planar:
        pos = np.concatenate([pos, rng.normal(size=(8, 1))], axis=1)
    cells = {
        "quad": np.array([[0, 1, 4, 3], [1, 2, 5, 4]]),
        "triangle": np.array([[3, 4, 6], [4, 7, 6], [4, 5, 7]]),
        "line": np.array([[0, 3], [3, 6]]),
    }
    boundary = np.array([1, 3, 2, 1, 0, 2, 1, 3])
    fields = rng.normal(size=(steps, 8, 7)).astype(np.float32)
    names = ["U_x", "U_y", "p", "S_0", "S_1", "S_2", "S_3"]
    cell_fields = {
        t: rng.normal(size=(steps, len(c), 2)).astype(np.float32) for t, c in cells.items()
    }
    return mesh_graph(
        pos,
        cells,
        boundary=boundary,
        boundary_names=["interior", "inlet", "outlet", "walls"],
        fields=fields,
        field_names=names,
        times=np.linspace(0.1, 0.7, steps),
        cell_fields=cell_fields,
        cell_field_names=["nu", "rho"],
        cond={"Re": 123.456, "Ma": 0.1},
    )


@pytest.mark.parametrize("suffix", FORMATS)
def test_roundtrip_single_step(tmp_path: Path, suffix: str) -> None:
    data = _graph()
    back = assert_roundtrip(data, suffix, tmp_path)
    assert back.field_names == ["U_x", "U_y", "p", "S_0", "S_1", "S_2", "S_3"]
    assert back.cond_names == ["Re", "Ma"]
    assert back.z0 == 0.0


@pytest.mark.parametrize("suffix", FORMATS)
def test_roundtrip_3d_points(tmp_path: Path, suffix: str) -> None:
    assert_roundtrip(_graph(planar=False), suffix, tmp_path)


def test_pvd_keeps_every_step(tmp_path: Path) -> None:
    data = _graph(steps=3)
    back = assert_roundtrip(data, tmp_path / "run.pvd")
    assert back.fields.shape == (3, 8, 7)
    steps = sorted((tmp_path / "run").glob("run_*.vtu"))
    assert [p.name for p in steps] == ["run_0000.vtu", "run_0001.vtu", "run_0002.vtu"]
    # the collection ParaView opens: one DataSet per step with its time
    root = ET.parse(tmp_path / "run.pvd").getroot()
    entries = root.findall("./Collection/DataSet")
    assert [e.get("file") for e in entries] == [f"run/{p.name}" for p in steps]
    assert [np.float32(float(e.get("timestep"))) for e in entries] == data.times.tolist()


@pytest.mark.parametrize("suffix", [".vtu", ".vtk", ".xdmf"])
def test_single_step_formats_write_one_chosen_step(tmp_path: Path, suffix: str) -> None:
    data = _graph(steps=3)
    with pytest.warns(UserWarning, match="one time step"):
        save(data, tmp_path / f"last{suffix}")
    assert torch.equal(load_mesh(tmp_path / f"last{suffix}").fields, data.fields[2:])
    assert_roundtrip(data, tmp_path / f"first{suffix}", step=0)


def test_planar_mesh_written_at_z0(tmp_path: Path) -> None:
    points = np.array([[0, 0, 2.5], [1, 0, 2.5], [0, 1, 2.5]])
    data = load_mesh(meshio.Mesh(points, [("triangle", np.array([[0, 1, 2]]))]))
    assert data.pos.shape == (3, 2) and data.z0 == 2.5
    grid = to_pyvista(data)
    assert np.all(grid.points[:, 2] == 2.5)
    assert_roundtrip(data, ".vtu", tmp_path)


def test_to_pyvista_arrays_and_field_data() -> None:
    data = _graph(steps=2)
    grid = to_pyvista(data, step=0)
    assert isinstance(grid, pv.UnstructuredGrid)
    assert grid.n_points == 8 and grid.n_cells == 7
    np.testing.assert_array_equal(grid.point_data["U"], data.fields[0, :, :2].numpy())
    np.testing.assert_array_equal(grid.point_data["S"], data.fields[0, :, 3:].numpy())
    np.testing.assert_array_equal(grid.point_data["boundary"], data.boundary.numpy())
    assert list(grid.field_data["boundary_names"]) == ["interior", "inlet", "outlet", "walls"]
    assert grid.field_data["TimeValue"][0] == data.times[0].item()
    # VTK's own edge extraction agrees with the graph's edges
    assert grid.extract_all_edges().n_cells * 2 == data.edge_index.shape[1]


def test_to_meshio(tmp_path: Path) -> None:
    data = _graph(steps=2)
    mesh = to_meshio(data)
    assert [b.type for b in mesh.cells] == ["quad", "triangle", "line"]
    np.testing.assert_array_equal(mesh.point_data["p"], data.fields[-1, :, 2].numpy())
    assert mesh.points.shape == (8, 3)
    assert set(mesh.cell_data) == {"nu", "rho"}
    # meshio can write what it got
    meshio.write(tmp_path / "out.vtu", mesh)


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    data = _graph(steps=2)
    for suffix in FORMATS:
        save(data, tmp_path / f"m{suffix}", step=None if suffix == ".pvd" else 0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["m", "m.h5", "m.pvd", "m.vtk", "m.vtu", "m.xdmf"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["m_0000.vtu", "m_0001.vtu"]


def test_overwrite_replaces_the_file(tmp_path: Path) -> None:
    first, second = _graph(), _graph(planar=False)
    save(first, tmp_path / "m.vtu")
    save(second, tmp_path / "m.vtu")
    assert torch.equal(load_mesh(tmp_path / "m.vtu").pos, second.pos)


def test_loaded_gmsh_mesh_roundtrips(gmsh_meshes, tmp_path: Path) -> None:
    data = load_mesh(gmsh_meshes["mixed"].msh41)
    data.fields = data.pos.sum(dim=1).reshape(1, -1, 1)
    data.field_names = ["s"]
    for suffix in FORMATS:
        assert_roundtrip(data, suffix, tmp_path)


def test_unknown_write_extension(tmp_path: Path) -> None:
    with pytest.raises(MeshFormatError, match=r"\.stl.*supported: \.vtu, \.vtk, \.xdmf, \.pvd"):
        save(_graph(), tmp_path / "m.stl")


def test_write_into_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(MeshFileNotFoundError, match="does not exist"):
        save(_graph(), tmp_path / "nowhere" / "m.vtu")


@pytest.mark.parametrize("suffix", [".vtu", ".vtk", ".xdmf", ".pvd"])
def test_written_files_have_the_usual_permissions(tmp_path: Path, suffix: str) -> None:
    """Atomic writes go through private temporaries; the result is readable like any file."""
    import os
    import stat

    data = mesh_graph(
        [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        {"triangle": [[0, 1, 2], [1, 3, 2]]},
        fields=np.ones((2, 4, 1), dtype=np.float32),
        field_names=["T"],
        times=[0.0, 1.0],
    )
    path = save(data, tmp_path / f"m{suffix}")
    mask = os.umask(0)
    os.umask(mask)
    for written in tmp_path.rglob("*"):
        if written.is_file():
            assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~mask, written
    assert path.is_file()


def test_a_killed_overwrite_leaves_the_old_series_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import meshfield.io.write as pyvista_io

    old = _graph(steps=3)
    path = save(old, tmp_path / "run.pvd")
    new = _graph(steps=4)
    new.fields = new.fields + 100.0
    calls = []
    real = pyvista_io.to_pyvista

    def dies_on_the_third_step(data, step=None, **kwargs):
        calls.append(step)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(data, step=step, **kwargs)

    monkeypatch.setattr(pyvista_io, "to_pyvista", dies_on_the_third_step)
    with pytest.raises(KeyboardInterrupt):
        save(new, path)
    monkeypatch.setattr(pyvista_io, "to_pyvista", real)
    back = load_mesh(path)
    torch.testing.assert_close(back.fields, old.fields.to(back.fields.dtype))
    # a finished overwrite replaces every step and leaves no file of the old series
    save(new, path)
    back = load_mesh(path)
    assert back.fields.shape[0] == 4
    torch.testing.assert_close(back.fields, new.fields.to(back.fields.dtype))
    assert len(list((tmp_path / "run").glob("*.vtu"))) == 4
    save(old, path)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "run_0000.vtu", "run_0001.vtu", "run_0002.vtu"]
