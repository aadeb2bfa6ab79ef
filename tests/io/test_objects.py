"""In-memory sources: meshio.Mesh and trimesh.Trimesh."""

from __future__ import annotations

import meshio
import numpy as np
import torch
import trimesh

from meshfield.io import load_mesh


def test_meshio_mesh_with_point_and_cell_data() -> None:
    points = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [2, 0.5]], dtype=float)
    cells = [("quad", np.array([[0, 1, 2, 3]])), ("triangle", np.array([[1, 4, 2]]))]
    mesh = meshio.Mesh(
        points,
        cells,
        point_data={"U": np.arange(10.0).reshape(5, 2), "stress": np.arange(20.0).reshape(5, 4)},
        cell_data={"nu": [np.array([1.0]), np.array([2.0])]},
    )
    data = load_mesh(mesh)
    assert data.field_names == ["U_x", "U_y", "stress_0", "stress_1", "stress_2", "stress_3"]
    assert data.fields[0, :, 0].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert data.cell_fields["quad"].tolist() == [[[1.0]]]
    assert data.cell_fields["triangle"].tolist() == [[[2.0]]]
    # quad edges 4 + triangle edges 3 - shared edge 1
    assert data.edge_index.shape[1] == 2 * 6

    averaged = load_mesh(mesh, cell_to_point=True, fields=["nu"])
    assert averaged.field_names == ["nu"]
    assert averaged.fields[0, :, 0].tolist() == [1.0, 1.5, 1.5, 1.0, 2.0]


def test_blocks_of_one_type_are_merged_in_order() -> None:
    points = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    cells = [
        ("triangle", np.array([[0, 1, 2]])),
        ("line", np.array([[0, 1]])),
        ("triangle", np.array([[0, 2, 3]])),
    ]
    data = load_mesh(meshio.Mesh(points, cells))
    assert list(data.cells) == ["triangle", "line"]
    assert data.cells["triangle"].tolist() == [[0, 1, 2], [0, 2, 3]]


def test_trimesh() -> None:
    box = trimesh.creation.box(extents=(1, 2, 3))
    data = load_mesh(box)
    assert data.pos.shape == (8, 3)
    assert list(data.cells) == ["triangle"]
    assert torch.equal(data.cells["triangle"], torch.as_tensor(box.faces, dtype=torch.int64))
    assert data.edge_index.shape[1] == 2 * len(box.edges_unique)
    # a closed surface has no boundary edges
    assert int(data.boundary.sum()) == 0


def test_trimesh_loaded_from_pyvista_sample(pyvista_examples) -> None:
    mesh = trimesh.load(pyvista_examples("ant.ply"), process=False)
    data = load_mesh(mesh)
    from_file = load_mesh(pyvista_examples("ant.ply"))
    assert torch.equal(data.pos, from_file.pos)
    assert torch.equal(data.edge_index, from_file.edge_index)
