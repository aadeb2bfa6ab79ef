"""Time series: a .pvd collection or a list of files sharing one mesh -> fields [T, N, C]."""

from __future__ import annotations

from pathlib import Path

import meshio
import numpy as np
import pyvista as pv
import torch

from meshfield.io import load_mesh

POINTS = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 1]], dtype=float)
CELLS = [("pyramid", np.array([[0, 1, 2, 3, 4]]))]


def _velocity(step: int) -> np.ndarray:
    return np.stack([POINTS[:, 0] * step, POINTS[:, 1], POINTS[:, 2] + step], axis=1)


def test_list_of_files(tmp_path: Path) -> None:
    paths = []
    for step in range(3):
        path = tmp_path / f"step{step}.vtu"
        mesh = meshio.Mesh(POINTS, CELLS, point_data={"U": _velocity(step), "p": np.full(5, step)})
        meshio.write(path, mesh)
        paths.append(path)
    data = load_mesh(paths, times=[0.0, 0.5, 1.0])
    assert data.fields.shape == (3, 5, 4)
    assert data.field_names == ["U_x", "U_y", "U_z", "p"]
    assert data.times.tolist() == [0.0, 0.5, 1.0]
    for step in range(3):
        np.testing.assert_array_equal(
            data.fields[step, :, :3].numpy(), _velocity(step).astype(np.float32)
        )
    assert data.fields[:, 0, 3].tolist() == [0.0, 1.0, 2.0]


def test_pvd_collection_of_vtk_files(tmp_path: Path) -> None:
    """A .pvd collection as other tools write it: hand-written XML listing VTK files."""
    grid = pv.UnstructuredGrid({pv.CellType.PYRAMID: CELLS[0][1]}, POINTS)
    entries = []
    for step, time in enumerate([0.0, 0.25]):
        grid.point_data["T"] = POINTS[:, 2] * (step + 1)
        name = f"frame{step}.vtu"
        grid.save(tmp_path / name)
        entries.append(f'<DataSet timestep="{time}" part="0" file="{name}"/>')
    (tmp_path / "series.pvd").write_text(
        '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n<Collection>\n'
        + "\n".join(entries)
        + "\n</Collection>\n</VTKFile>\n"
    )
    data = load_mesh(tmp_path / "series.pvd")
    assert data.times.tolist() == [0.0, 0.25]
    assert data.field_names == ["T"]
    assert torch.equal(data.fields[1], 2 * data.fields[0])
    assert list(data.cells) == ["pyramid"]


def test_field_subset_and_conditions(tmp_path: Path) -> None:
    path = tmp_path / "m.vtu"
    meshio.write(path, meshio.Mesh(POINTS, CELLS, point_data={"U": _velocity(1), "p": np.ones(5)}))
    data = load_mesh(path, fields=["p"], cond={"Re": 100})
    assert data.field_names == ["p"]
    assert data.cond_names == ["Re"] and data.cond.tolist() == [100.0]
    data = load_mesh(path, fields=["U_y"])
    assert data.field_names == ["U_x", "U_y", "U_z"]  # a channel selects its whole array
