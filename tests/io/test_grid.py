from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
import torch

from meshfield.data import mesh_graph, validate
from meshfield.errors import MeshValidationError
from meshfield.io.grid import from_grid, to_grid


def test_2d_round_trip_is_exact() -> None:
    values = np.random.default_rng(0).random((5, 4, 3), dtype=np.float32)
    graph = from_grid(values)
    assert graph.grid_shape == (5, 4)
    assert torch.equal(to_grid(graph), torch.from_numpy(values))
    assert validate(graph) == []


def test_3d_round_trip_is_exact() -> None:
    values = torch.rand(4, 3, 5, 2)
    graph = from_grid(values)
    assert graph.cells["hexahedron"].shape == (3 * 2 * 4, 8)
    assert torch.equal(to_grid(graph), values)
    assert validate(graph) == []


@pytest.mark.parametrize("shape", [(4, 3), (3, 4, 2)])
def test_round_trip_with_time(shape: tuple[int, ...]) -> None:
    values = torch.rand(6, *shape, 2)
    graph = from_grid(values, times=torch.linspace(0, 1, 6))
    assert graph.fields.shape == (6, int(np.prod(shape)), 2)
    assert torch.equal(to_grid(graph), values)


def test_array_axis_0_is_x_and_x_runs_fastest() -> None:
    values = np.zeros((3, 2, 1), dtype=np.float32)
    values[2, 0, 0] = 1.0  # x = 2, y = 0
    graph = from_grid(values, spacing=(0.5, 2.0), origin=(1.0, -1.0))
    assert graph.pos.tolist() == [
        [1.0, -1.0],
        [1.5, -1.0],
        [2.0, -1.0],
        [1.0, 1.0],
        [1.5, 1.0],
        [2.0, 1.0],
    ]
    assert graph.fields[0, :, 0].tolist() == [0, 0, 1, 0, 0, 0]


@pytest.mark.parametrize(
    ("shape", "edges", "interior"),
    [((4, 3), 17, 2), ((4, 3, 3), 4 * 3 * 3 * 3 - 4 * 3 - 3 * 3 - 4 * 3, 2)],
)
def test_edges_are_lattice_neighbours(shape: tuple[int, ...], edges: int, interior: int) -> None:
    graph = from_grid(shape)
    assert graph.edge_index.shape[1] == 2 * edges
    # every edge joins nodes one spacing apart along one axis
    delta = (graph.pos[graph.edge_index[0]] - graph.pos[graph.edge_index[1]]).abs()
    assert torch.equal(delta.sum(dim=1), torch.ones(delta.shape[0]))
    assert int((graph.boundary == 0).sum()) == interior


def test_shape_only_gives_geometry() -> None:
    graph = from_grid((3, 3))
    assert "fields" not in graph and graph.pos.shape == (9, 2)
    with pytest.raises(MeshValidationError, match="to_grid: expected fields"):
        to_grid(graph)


def test_cells_match_mesh_graph_from_the_same_quads() -> None:
    graph = from_grid((3, 3))
    # node i + 3 j, cell (i, j) = n(i,j), n(i+1,j), n(i+1,j+1), n(i,j+1), x fastest
    assert graph.cells["quad"].tolist() == [[0, 1, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [4, 5, 8, 7]]
    assert torch.equal(
        graph.edge_index, mesh_graph(graph.pos, {"quad": graph.cells["quad"]}).edge_index
    )


def test_image_data_points_and_data_agree_with_pyvista() -> None:
    image = pv.ImageData(dimensions=(4, 3, 2), spacing=(0.5, 1.0, 2.0), origin=(1.0, 2.0, 3.0))
    image.point_data["p"] = np.arange(image.n_points, dtype=np.float32)
    image.point_data["U"] = np.random.default_rng(0).random((image.n_points, 3), dtype=np.float32)
    image.cell_data["c"] = np.arange(image.n_cells, dtype=np.float32)
    graph = from_grid(image)
    assert graph.grid_shape == (4, 3, 2)
    assert np.array_equal(graph.pos.numpy(), np.asarray(image.points, dtype=np.float32))
    assert graph.field_names == ["p", "U_x", "U_y", "U_z"]
    assert np.array_equal(graph.fields[0, :, 0].numpy(), image.point_data["p"])
    assert np.array_equal(graph.fields[0, :, 1:].numpy(), image.point_data["U"])
    assert graph.cell_fields["hexahedron"][0, :, 0].tolist() == list(range(image.n_cells))
    # the cells are pyvista's cells, in pyvista's order
    (vtk_cells,) = image.cast_to_unstructured_grid().cells_dict.values()
    ours = graph.cells["hexahedron"].numpy()
    assert [set(a) for a in vtk_cells] == [set(b) for b in ours]
    # and the same grid from the array agrees with the image
    from_array = from_grid(to_grid(graph), spacing=(0.5, 1.0, 2.0), origin=(1.0, 2.0, 3.0))
    assert torch.equal(from_array.pos, graph.pos)
    assert torch.equal(from_array.fields, graph.fields)


def test_flat_image_data_is_2d() -> None:
    image = pv.ImageData(dimensions=(4, 3, 1), origin=(0.0, 0.0, 5.0))
    image.point_data["T"] = np.arange(12, dtype=np.float32)
    graph = from_grid(image)
    assert graph.pos.shape == (12, 2) and graph.z0 == 5.0
    assert graph.grid_shape == (4, 3)
    expected = np.arange(12, dtype=np.float32).reshape(3, 4).T[..., None]  # [nx, ny, 1]
    assert torch.equal(to_grid(graph), torch.from_numpy(expected))


def test_not_a_grid_is_a_clear_error() -> None:
    graph = mesh_graph([[0, 0], [1, 0], [0, 1]], {"triangle": [[0, 1, 2]]}, fields=[1.0, 2.0, 3.0])
    with pytest.raises(MeshValidationError, match="to_grid: expected a grid graph with grid_shape"):
        to_grid(graph)


def test_bad_inputs() -> None:
    with pytest.raises(
        MeshValidationError, match=r"from_grid: expected an array of shape \[\*shape, C\]"
    ):
        from_grid(np.zeros((4, 4)))
    with pytest.raises(MeshValidationError, match=r"grid_shape: expected 2 or 3 point counts >= 2"):
        from_grid((4, 1))
    with pytest.raises(
        MeshValidationError, match=r"times: expected a tensor of shape \[T\] with T = 2"
    ):
        from_grid(np.zeros((2, 3, 3, 1)), times=[0.0, 1.0, 2.0])
    with pytest.raises(
        MeshValidationError, match=r"spacing: expected a finite number or 2 numbers"
    ):
        from_grid((3, 3), spacing=(1.0, 2.0, 3.0))
