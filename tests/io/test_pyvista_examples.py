"""The sample files shipped inside the PyVista package, read from disk and as objects."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
import torch

from meshfield.io import load_mesh

FILES = [
    "airplane.ply",
    "ant.ply",
    "nut.ply",
    "sphere.ply",
    "globe.vtk",
    "hexbeam.vtk",
    "uniform.vtk",
    "rectilinear.vtk",
]


def _num_edges(dataset) -> int:
    # VTK's own count of the unique edges of all cells
    return dataset.extract_all_edges().n_cells


@pytest.mark.parametrize("name", FILES)
def test_nodes_and_edges_match_vtk(pyvista_examples, name: str) -> None:
    path = pyvista_examples(name)
    dataset = pv.read(path)
    data = load_mesh(path)
    assert data.pos.shape == (dataset.n_points, 3)
    np.testing.assert_array_equal(data.pos.numpy(), np.asarray(dataset.points, dtype=np.float32))
    assert data.edge_index.shape[1] == 2 * _num_edges(dataset)
    assert sum(len(c) for c in data.cells.values()) == dataset.n_cells


def test_hexbeam_fields(pyvista_examples) -> None:
    path = pyvista_examples("hexbeam.vtk")
    dataset = pv.read(path)
    data = load_mesh(path)
    assert list(data.cells) == ["hexahedron"]
    column = data.field_names.index("sample_point_scalars")
    np.testing.assert_array_equal(
        data.fields[0, :, column].numpy(),
        dataset.point_data["sample_point_scalars"].astype(np.float32),
    )
    assert data.cell_field_names == ["sample_cell_scalars"]
    np.testing.assert_array_equal(
        data.cell_fields["hexahedron"][0, :, 0].numpy(),
        dataset.cell_data["sample_cell_scalars"].astype(np.float32),
    )


def test_hexbeam_boundary_is_the_surface(pyvista_examples) -> None:
    path = pyvista_examples("hexbeam.vtk")
    dataset = pv.read(path)
    data = load_mesh(path)
    surface = dataset.extract_surface(algorithm=None)  # keep VTK's original point ids
    on_surface = np.zeros(dataset.n_points, dtype=bool)
    on_surface[surface.point_data["vtkOriginalPointIds"]] = True
    assert data.boundary_names == ["interior", "boundary"]
    np.testing.assert_array_equal(data.boundary.numpy() > 0, on_surface)


def test_cell_to_point_averages_cell_data(pyvista_examples) -> None:
    path = pyvista_examples("hexbeam.vtk")
    dataset = pv.read(path)
    data = load_mesh(path, cell_to_point=True, fields=["sample_cell_scalars"])
    assert data.field_names == ["sample_cell_scalars"]
    assert "cell_fields" not in data
    # VTK's cell-to-point filter averages over the cells around each point, as meshfield does
    reference = dataset.cell_data_to_point_data().point_data["sample_cell_scalars"]
    np.testing.assert_allclose(data.fields[0, :, 0].numpy(), reference, rtol=1e-6)


def test_globe_texture_coordinates_are_a_vector(pyvista_examples) -> None:
    data = load_mesh(pyvista_examples("globe.vtk"))
    assert data.field_names == ["Texture Coordinates_x", "Texture Coordinates_y"]


@pytest.mark.parametrize("name", ["uniform.vtk", "rectilinear.vtk"])
def test_voxels_become_hexahedra_in_vtk_node_order(pyvista_examples, name: str) -> None:
    dataset = pv.read(pyvista_examples(name))
    data = load_mesh(dataset)
    hexa = data.cells["hexahedron"]
    pos = data.pos.double()
    corners = pos[hexa]  # [n, 8, 3]
    # hexahedron order: 0-1-2-3 counter-clockwise at the bottom, 4-7 above them
    edge01 = corners[:, 1] - corners[:, 0]
    edge03 = corners[:, 3] - corners[:, 0]
    edge04 = corners[:, 4] - corners[:, 0]
    volume = torch.linalg.det(torch.stack([edge01, edge03, edge04], dim=1))
    assert bool((volume > 0).all())
    assert torch.allclose(corners[:, 2], corners[:, 1] + edge03)


def test_image_data_subset_of_channels(pyvista_examples) -> None:
    dataset = pv.read(pyvista_examples("channels.vti")).extract_subset((0, 7, 0, 5, 0, 3))
    assert isinstance(dataset, pv.ImageData)
    data = load_mesh(dataset)
    assert data.pos.shape == (8 * 6 * 4, 3)
    assert data.edge_index.shape[1] == 2 * _num_edges(dataset)
    assert data.cell_field_names == ["facies"]
    np.testing.assert_array_equal(
        data.cell_fields["hexahedron"][0, :, 0].numpy(),
        dataset.cell_data["facies"].astype(np.float32),
    )


def test_structured_grid_and_poly_data_objects() -> None:
    x, y, z = np.meshgrid(np.arange(3.0), np.arange(4.0), np.arange(2.0), indexing="ij")
    grid = pv.StructuredGrid(x, y, z)
    data = load_mesh(grid)
    assert list(data.cells) == ["hexahedron"]
    assert data.edge_index.shape[1] == 2 * _num_edges(grid)

    plane = pv.Plane(i_resolution=3, j_resolution=2)  # quads in a plane z = 0
    data = load_mesh(plane)
    assert list(data.cells) == ["quad"]
    assert data.pos.shape == (12, 2) and data.z0 == 0.0
    assert data.edge_index.shape[1] == 2 * _num_edges(plane)


def test_poly_lines_and_strips_are_split() -> None:
    strip = pv.PolyData(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 2, 0]], float))
    strip.strips = np.array([5, 0, 1, 2, 3, 4])
    data = load_mesh(strip)
    assert data.cells["triangle"].tolist() == [[0, 1, 2], [2, 1, 3], [2, 3, 4]]

    line = pv.lines_from_points(np.array([[0, 0, 0], [1, 0, 0], [2, 1, 0], [3, 1, 1]], float))
    data = load_mesh(line)
    assert data.cells["line"].tolist() == [[0, 1], [1, 2], [2, 3]]


def test_multiblock_block_choice() -> None:
    blocks = pv.MultiBlock({"left": pv.Sphere(), "right": pv.Cube().triangulate()})
    assert load_mesh(blocks, block="right").pos.shape[0] == blocks["right"].n_points
    assert load_mesh(blocks, block=0).pos.shape[0] == blocks["left"].n_points
    single = pv.MultiBlock({"only": pv.Sphere()})
    assert load_mesh(single).pos.shape[0] == single["only"].n_points
