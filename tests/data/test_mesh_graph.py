from __future__ import annotations

import meshio
import numpy as np
import pytest
import torch

from meshfield.data import cell_to_point, channel_names, mesh_graph, validate
from meshfield.errors import MeshValidationError
from meshfield.testing.meshes import tiny_meshes

SQUARE = tiny_meshes()["two_triangles"]  # nodes 0..3, triangles (0,1,2), (0,2,3)


def test_keys_dtypes_and_shapes() -> None:
    graph = mesh_graph(SQUARE.pos, SQUARE.cells)
    assert graph.pos.dtype == torch.float32 and graph.pos.shape == (4, 2)
    assert graph.cells["triangle"].dtype == torch.int64
    assert graph.edge_index.dtype == torch.int64
    assert graph.boundary.dtype == torch.int64
    assert graph.boundary_names == ["interior", "boundary"]
    for key in ("fields", "times", "cond", "cell_fields", "z0", "grid_shape"):
        assert key not in graph
    assert validate(graph) == []


def test_torch_inputs_are_accepted() -> None:
    graph = mesh_graph(
        torch.from_numpy(SQUARE.pos),
        {"triangle": torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)},
    )
    assert graph.edge_index.shape == (2, 10)


def test_constant_z_becomes_2d_with_z0() -> None:
    pos = np.concatenate([SQUARE.pos, np.full((4, 1), 2.5)], axis=1)
    graph = mesh_graph(pos, SQUARE.cells)
    assert graph.pos.shape == (4, 2)
    assert graph.z0 == 2.5
    assert torch.equal(graph.pos, torch.from_numpy(SQUARE.pos).float())
    assert validate(graph) == []


def test_varying_z_stays_3d() -> None:
    pos, cells, _, _ = tiny_meshes()["open_surface_3d"]
    graph = mesh_graph(pos, cells)
    assert graph.pos.shape == (4, 3) and "z0" not in graph


def test_meshio_cell_blocks_and_cell_data() -> None:
    pos, cells, _, _ = tiny_meshes()["tri_quad"]
    blocks = [
        meshio.CellBlock("quad", cells["quad"]),
        meshio.CellBlock("triangle", cells["triangle"]),
    ]
    graph = mesh_graph(
        pos,
        blocks,
        cell_fields={
            "p": [np.array([1.0]), np.array([2.0])],
            "U": [np.ones((1, 2)), np.zeros((1, 2))],
        },
    )
    assert graph.cell_field_names == ["p", "U_x", "U_y"]
    assert graph.cell_fields["quad"].tolist() == [[[1.0, 1.0, 1.0]]]
    assert graph.cell_fields["triangle"].tolist() == [[[2.0, 0.0, 0.0]]]
    assert validate(graph) == []


def test_field_forms() -> None:
    n = 4
    assert mesh_graph(SQUARE.pos, SQUARE.cells, fields=np.arange(n)).fields.shape == (1, n, 1)
    assert mesh_graph(SQUARE.pos, SQUARE.cells, fields=np.zeros((n, 2))).fields.shape == (1, n, 2)
    graph = mesh_graph(SQUARE.pos, SQUARE.cells, fields=np.zeros((3, n, 2)), times=[0.0, 0.1, 0.2])
    assert graph.fields.shape == (3, n, 2) and graph.fields.dtype == torch.float32
    assert graph.field_names == ["field_0", "field_1"]
    assert graph.times.tolist() == pytest.approx([0.0, 0.1, 0.2])
    named = mesh_graph(
        SQUARE.pos,
        SQUARE.cells,
        fields={"p": np.zeros(n), "U": np.zeros((n, 2)), "S": np.zeros((n, 6))},
    )
    assert named.field_names == ["p", "U_x", "U_y", *(f"S_{i}" for i in range(6))]
    assert named.fields.shape == (1, n, 9)


def test_channel_names() -> None:
    assert channel_names("U", 3) == ["U_x", "U_y", "U_z"]
    assert channel_names("A", 4) == ["A_0", "A_1", "A_2", "A_3"]
    assert channel_names("p", 1) == ["p"]


def test_cell_data_is_kept_on_cells_by_default() -> None:
    graph = mesh_graph(
        SQUARE.pos, SQUARE.cells, cell_fields={"triangle": [1.0, 3.0]}, cell_field_names=["p"]
    )
    assert "fields" not in graph
    assert graph.cell_fields["triangle"].tolist() == [[[1.0], [3.0]]]
    assert graph.cell_field_names == ["p"]


def test_cell_to_point_averages_over_touching_cells() -> None:
    # nodes 0 and 2 touch both triangles: (1 + 3) / 2; node 1 only the first, node 3 the second
    graph = mesh_graph(
        SQUARE.pos,
        SQUARE.cells,
        cell_fields={"triangle": [1.0, 3.0]},
        cell_field_names=["p"],
        cell_to_point=True,
    )
    assert graph.fields[0, :, 0].tolist() == [2.0, 1.0, 2.0, 3.0]
    assert graph.field_names == ["p"]
    assert "cell_fields" not in graph


def test_cell_to_point_over_mixed_cell_types_and_steps() -> None:
    pos, cells, _, _ = tiny_meshes()["tri_quad"]  # quad (0,1,2,3), triangle (1,4,2)
    values = {"quad": [[[4.0]], [[0.0]]], "triangle": [[[1.0]], [[6.0]]]}  # [T=2, n_cells=1, C=1]
    out = cell_to_point(cells, values, 5)
    assert out.shape == (2, 5, 1)
    assert out[0, :, 0].tolist() == [4.0, 2.5, 2.5, 4.0, 1.0]
    assert out[1, :, 0].tolist() == [0.0, 3.0, 3.0, 0.0, 6.0]


def test_cell_to_point_appends_to_point_fields() -> None:
    graph = mesh_graph(
        SQUARE.pos,
        SQUARE.cells,
        fields={"T": np.ones(4)},
        cell_fields={"triangle": [1.0, 3.0]},
        cell_field_names=["p"],
        cell_to_point=True,
    )
    assert graph.field_names == ["T", "p"]
    assert graph.fields[0, :, 1].tolist() == [2.0, 1.0, 2.0, 3.0]


def test_node_in_no_cell_with_data_gets_zero() -> None:
    pos, cells, _, _ = tiny_meshes()["tri_quad"]
    out = cell_to_point(cells, {"quad": [5.0]}, 5)
    assert out.tolist() == [5.0, 5.0, 5.0, 5.0, 0.0]


def test_cell_to_point_needs_cell_types_as_keys() -> None:
    with pytest.raises(MeshValidationError, match=r"cell_fields: expected cell types of cells"):
        cell_to_point(SQUARE.cells, {"p": [1.0, 3.0]}, 4)


def test_given_boundary_tags_and_names() -> None:
    tags = np.array([0, 1, 2, 1])
    graph = mesh_graph(SQUARE.pos, SQUARE.cells, boundary=tags, boundary_names=["wall", "inlet"])
    assert graph.boundary.tolist() == [0, 1, 2, 1]
    assert graph.boundary_names == ["interior", "wall", "inlet"]
    masked = mesh_graph(SQUARE.pos, SQUARE.cells, boundary=np.array([True, False, False, True]))
    assert masked.boundary.tolist() == [1, 0, 0, 1] and masked.boundary_names == [
        "interior",
        "boundary",
    ]
    unnamed = mesh_graph(SQUARE.pos, SQUARE.cells, boundary=tags)
    assert unnamed.boundary_names == ["interior", "boundary_1", "boundary_2"]


def test_closed_surface_has_no_boundary_nodes() -> None:
    pos, cells, _, _ = tiny_meshes()["closed_surface"]
    assert mesh_graph(pos, cells).boundary.sum() == 0


def test_cond_forms() -> None:
    graph = mesh_graph(SQUARE.pos, SQUARE.cells, cond={"Re": 100.0})
    assert graph.cond.tolist() == [100.0] and graph.cond_names == ["Re"]
    graph = mesh_graph(SQUARE.pos, SQUARE.cells, cond=[1.0, 2.0], cond_names=["a", "b"])
    assert graph.cond.dtype == torch.float32 and graph.cond_names == ["a", "b"]


# --- errors: each names the key (and the source) --------------------------------------------


def test_empty_mesh() -> None:
    with pytest.raises(MeshValidationError, match=r"^cavity.vtu: pos: .*empty mesh"):
        mesh_graph(np.zeros((0, 2)), {"triangle": np.zeros((0, 3), dtype=int)}, source="cavity.vtu")


def test_no_cells() -> None:
    with pytest.raises(MeshValidationError, match=r"cells: expected at least one cell"):
        mesh_graph(SQUARE.pos, {"triangle": np.zeros((0, 3), dtype=int)})


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])  # 1e300 overflows float32
def test_non_finite_coordinates(bad: float) -> None:
    pos = SQUARE.pos.copy()
    pos[2, 1] = bad
    with pytest.raises(
        MeshValidationError, match=r"^m.msh: pos: expected finite coordinates.*node 2"
    ):
        mesh_graph(pos, SQUARE.cells, source="m.msh")


def test_wrong_pos_shape() -> None:
    with pytest.raises(
        MeshValidationError,
        match=r"pos: expected a tensor of shape \[N, 2\] or \[N, 3\] \(got \[4, 4\]\)",
    ):
        mesh_graph(np.zeros((4, 4)), SQUARE.cells)


def test_out_of_range_cell_index() -> None:
    with pytest.raises(
        MeshValidationError, match=r"^a.vtu: cells\['triangle'\]: .*\[0, 4\).*from 0 to 4"
    ):
        mesh_graph(SQUARE.pos, {"triangle": [[0, 1, 4]]}, source="a.vtu")


def test_negative_cell_index() -> None:
    with pytest.raises(MeshValidationError, match=r"cells\['triangle'\]: .*from -1 to 2"):
        mesh_graph(SQUARE.pos, {"triangle": [[0, 1, 2], [-1, 0, 2]]})


def test_field_with_the_length_of_the_cells() -> None:
    with pytest.raises(
        MeshValidationError,
        match=r"^b.vtu: fields: expected a tensor of shape \[T, N, C\] with N = 4 nodes \(got \[1, 2, 1\]\); 2 is the number of cells: pass cell data as cell_fields",
    ):
        mesh_graph(SQUARE.pos, SQUARE.cells, fields=np.zeros(2), source="b.vtu")


def test_field_matching_neither_points_nor_cells() -> None:
    with pytest.raises(
        MeshValidationError,
        match=r"fields\['p'\]: expected a tensor of shape \[T, N, C\] with N = 4 nodes \(got \[1, 7, 1\]\); 7 matches neither",
    ):
        mesh_graph(SQUARE.pos, SQUARE.cells, fields={"p": np.zeros(7)})


def test_cell_field_with_the_length_of_the_points() -> None:
    with pytest.raises(
        MeshValidationError,
        match=r"cell_fields\['triangle'\]: .*n_cells = 2 triangle cells.*4 is the number of nodes N: pass point data as fields",
    ):
        mesh_graph(SQUARE.pos, SQUARE.cells, cell_fields={"triangle": np.zeros(4)})


def test_non_finite_field() -> None:
    with pytest.raises(MeshValidationError, match=r"fields: expected finite values \(got 1 NaN"):
        mesh_graph(SQUARE.pos, SQUARE.cells, fields=[0.0, np.nan, 0.0, 0.0])


def test_field_names_count() -> None:
    with pytest.raises(MeshValidationError, match=r"field_names: expected C = 2 names \(got 1"):
        mesh_graph(SQUARE.pos, SQUARE.cells, fields=np.zeros((4, 2)), field_names=["p"])


def test_times_count() -> None:
    with pytest.raises(
        MeshValidationError,
        match=r"times: expected a tensor of shape \[T\] with T = 2 steps of fields \(got \[3\]\)",
    ):
        mesh_graph(SQUARE.pos, SQUARE.cells, fields=np.zeros((2, 4, 1)), times=[0, 1, 2])


def test_boundary_tag_without_a_name() -> None:
    with pytest.raises(
        MeshValidationError, match=r"boundary_names: expected a name for every group id"
    ):
        mesh_graph(
            SQUARE.pos, SQUARE.cells, boundary=[0, 1, 2, 0], boundary_names=["interior", "wall"]
        )


def test_names_without_data() -> None:
    with pytest.raises(MeshValidationError, match=r"^cond_names: given without cond"):
        mesh_graph(SQUARE.pos, SQUARE.cells, cond_names=["Re"])
