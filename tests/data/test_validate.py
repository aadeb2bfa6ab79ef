from __future__ import annotations

import numpy as np
import pytest
import torch

from meshfield.data import MeshGraph, mesh_graph, validate
from meshfield.errors import MeshValidationError
from meshfield.testing.meshes import tiny_meshes


@pytest.fixture
def graph() -> MeshGraph:
    pos, cells, _, _ = tiny_meshes()["triangle_fan"]  # 5 nodes, 4 triangles
    return mesh_graph(
        pos,
        cells,
        fields=np.zeros((3, 5, 2)),
        field_names=["u", "v"],
        times=[0.0, 0.5, 1.0],
        cell_fields={"triangle": np.zeros((3, 4, 1))},
        cell_field_names=["q"],
        cond=[1.0],
        cond_names=["Re"],
    )


def test_clean_graph_has_no_findings(graph: MeshGraph) -> None:
    assert validate(graph) == []


def check(graph: MeshGraph, pattern: str) -> None:
    with pytest.raises(MeshValidationError, match=pattern):
        validate(graph, source="case.vtu")


# --- one test per error -------------------------------------------------------------------


def test_missing_pos(graph: MeshGraph) -> None:
    del graph.pos
    check(graph, r"^case.vtu: pos: .*key missing")


def test_pos_not_floating(graph: MeshGraph) -> None:
    graph.pos = graph.pos.long()
    check(graph, r"^case.vtu: pos: expected a floating-point tensor.*int64")


def test_pos_wrong_shape(graph: MeshGraph) -> None:
    graph.pos = torch.zeros(5, 4)
    check(graph, r"pos: expected a tensor of shape \[N, 2\] or \[N, 3\] \(got \[5, 4\]\)")


def test_pos_empty(graph: MeshGraph) -> None:
    graph.pos = torch.zeros(0, 2)
    check(graph, r"pos: expected at least one node")


def test_pos_non_finite(graph: MeshGraph) -> None:
    graph.pos[1, 0] = float("nan")
    check(graph, r"pos: expected finite values \(got 1 NaN")


def test_z0_not_a_number(graph: MeshGraph) -> None:
    graph.z0 = "zero"
    check(graph, r"z0: expected a finite float")


def test_z0_with_3d_pos() -> None:
    pos, cells, _, _ = tiny_meshes()["single_tetra"]
    graph = mesh_graph(pos, cells)
    graph.z0 = 0.0
    check(graph, r"z0: expected only with 2D pos")


def test_cells_not_a_dict(graph: MeshGraph) -> None:
    graph.cells = [graph.cells["triangle"]]
    check(graph, r"cells: expected a dict")


def test_cells_unknown_type(graph: MeshGraph) -> None:
    graph.cells = {"blob": graph.cells["triangle"]}
    check(graph, r"cells\['blob'\]: expected a meshio cell type")


def test_cells_wrong_dtype(graph: MeshGraph) -> None:
    graph.cells = {"triangle": graph.cells["triangle"].int()}
    check(
        graph,
        r"cells\['triangle'\]: expected an int64 tensor of shape \[n_cells, 3\] \(got dtype torch.int32\)",
    )


def test_cells_wrong_shape(graph: MeshGraph) -> None:
    graph.cells = {"triangle": graph.cells["triangle"][:, :2]}
    check(graph, r"cells\['triangle'\]: expected a tensor of shape \[n_cells, 3\] \(got \[4, 2\]\)")


def test_cells_index_out_of_range(graph: MeshGraph) -> None:
    graph.cells["triangle"][0, 0] = 5
    check(
        graph,
        r"cells\['triangle'\]: expected node indices in \[0, 5\) for N = 5 nodes \(got indices from 0 to 5\)",
    )


def test_edge_index_wrong_shape(graph: MeshGraph) -> None:
    graph.edge_index = graph.edge_index.t()
    check(graph, r"edge_index: expected a tensor of shape \[2, E\] \(got \[16, 2\]\)")


def test_edge_index_out_of_range(graph: MeshGraph) -> None:
    graph.edge_index = torch.tensor([[0, 7], [7, 0]])
    check(graph, r"edge_index: expected node indices in \[0, 5\)")


def test_edge_index_not_undirected(graph: MeshGraph) -> None:
    graph.edge_index = graph.edge_index[:, 1:]
    check(
        graph, r"edge_index: expected an undirected graph.*1 of E = 15 edges without their reverse"
    )


def test_boundary_wrong_shape(graph: MeshGraph) -> None:
    graph.boundary = torch.zeros(4, dtype=torch.int64)
    check(graph, r"boundary: expected a tensor of shape \[N\] with N = 5 nodes \(got \[4\]\)")


def test_boundary_wrong_dtype(graph: MeshGraph) -> None:
    graph.boundary = graph.boundary.bool()
    check(graph, r"boundary: expected an int64 tensor")


def test_boundary_negative(graph: MeshGraph) -> None:
    graph.boundary[0] = -1
    check(graph, r"boundary: expected group ids >= 0")


def test_boundary_tag_without_name(graph: MeshGraph) -> None:
    graph.boundary[0] = 2
    check(
        graph,
        r"boundary: expected group ids in \[0, 2\) for the 2 boundary_names \(got ids up to 2\)",
    )


def test_boundary_names_without_interior(graph: MeshGraph) -> None:
    graph.boundary_names = ["wall", "inlet"]
    check(graph, r"boundary_names: expected 'interior'")


def test_boundary_names_without_boundary(graph: MeshGraph) -> None:
    del graph.boundary
    check(graph, r"boundary_names: given without boundary")


def test_fields_wrong_node_count(graph: MeshGraph) -> None:
    graph.fields = torch.zeros(3, 4, 2)
    check(
        graph,
        r"^case.vtu: fields: expected a tensor of shape \[T, N, C\] with N = 5 nodes \(got \[3, 4, 2\]\)$",
    )


def test_fields_wrong_rank(graph: MeshGraph) -> None:
    graph.fields = torch.zeros(5, 2)
    check(
        graph, r"fields: expected a tensor of shape \[T, N, C\] with N = 5 nodes \(got \[5, 2\]\)"
    )


def test_fields_not_floating(graph: MeshGraph) -> None:
    graph.fields = torch.zeros(3, 5, 2, dtype=torch.int64)
    check(graph, r"fields: expected a floating-point tensor")


def test_fields_non_finite(graph: MeshGraph) -> None:
    graph.fields[0, 0, 0] = float("inf")
    check(graph, r"fields: expected finite values \(got 1 NaN or infinite")


def test_field_names_count(graph: MeshGraph) -> None:
    graph.field_names = ["u"]
    check(graph, r"field_names: expected C = 2 names, one per channel of fields \(got 1")


def test_field_names_duplicate(graph: MeshGraph) -> None:
    graph.field_names = ["u", "u"]
    check(graph, r"field_names: expected unique names")


def test_field_names_without_fields(graph: MeshGraph) -> None:
    del graph.fields
    check(graph, r"field_names: given without fields")


def test_times_count(graph: MeshGraph) -> None:
    graph.times = torch.zeros(2)
    check(
        graph, r"times: expected a tensor of shape \[T\] with T = 3 steps of fields \(got \[2\]\)"
    )


def test_times_without_fields(graph: MeshGraph) -> None:
    del graph.fields, graph.field_names, graph.cell_fields, graph.cell_field_names
    check(graph, r"times: given without fields")


def test_cell_fields_unknown_type(graph: MeshGraph) -> None:
    graph.cell_fields = {"quad": torch.zeros(3, 4, 1)}
    check(graph, r"cell_fields\['quad'\]: expected a cell type present in cells")


def test_cell_fields_wrong_cell_count(graph: MeshGraph) -> None:
    graph.cell_fields = {"triangle": torch.zeros(3, 5, 1)}
    check(
        graph,
        r"cell_fields\['triangle'\]: expected a tensor of shape \[T, n_cells, C\] with n_cells = 4 triangle cells \(got \[3, 5, 1\]\)",
    )


def test_cell_fields_wrong_steps(graph: MeshGraph) -> None:
    graph.cell_fields = {"triangle": torch.zeros(2, 4, 1)}
    check(graph, r"cell_fields\['triangle'\]: expected T = 3 time steps")


def test_cell_field_names_count(graph: MeshGraph) -> None:
    graph.cell_field_names = ["q", "r"]
    check(graph, r"cell_field_names: expected C_cell = 1 names")


def test_cond_wrong_shape(graph: MeshGraph) -> None:
    graph.cond = torch.zeros(1, 1)
    check(graph, r"cond: expected a tensor of shape \[K\] \(got \[1, 1\]\)")


def test_cond_names_count(graph: MeshGraph) -> None:
    graph.cond_names = ["Re", "Ma"]
    check(graph, r"cond_names: expected K = 1 names")


def test_cond_non_finite(graph: MeshGraph) -> None:
    graph.cond = torch.tensor([float("nan")])
    check(graph, r"cond: expected finite values")


def test_grid_shape_mismatch(graph: MeshGraph) -> None:
    graph.grid_shape = (2, 2)
    check(
        graph,
        r"grid_shape: expected 2 positive point counts whose product is N = 5 \(got \(2, 2\)\)",
    )


# --- findings that are only reported ------------------------------------------------------


def test_duplicate_points_are_reported() -> None:
    pos, cells, _, _ = tiny_meshes()["two_triangles"]
    pos = np.concatenate([pos, pos[2:3]])  # node 4 repeats node 2 and is in no cell
    findings = validate(mesh_graph(pos, cells))
    assert any("pos: 1 duplicate points" in f and "nodes 2 and 4" in f for f in findings)
    assert any("cells: 1 of N = 5 nodes are in no cell (first: node 4)" in f for f in findings)


def test_findings_name_the_source() -> None:
    pos, cells, _, _ = tiny_meshes()["two_triangles"]
    findings = validate(mesh_graph(np.concatenate([pos, [[5.0, 5.0]]]), cells), source="x.vtu")
    assert findings == ["x.vtu: cells: 1 of N = 5 nodes are in no cell (first: node 4)"]


def test_self_loops_and_uncoalesced_edges_are_reported(graph: MeshGraph) -> None:
    graph.edge_index = torch.cat([graph.edge_index.flip(1), torch.tensor([[0], [0]])], dim=1)
    findings = validate(graph)
    assert any("edge_index: 1 self loops" in f for f in findings)
    assert any("edge_index: not coalesced" in f for f in findings)


def test_float64_pos_is_reported(graph: MeshGraph) -> None:
    graph.pos = graph.pos.double()
    assert validate(graph) == ["pos: expected dtype float32 (got torch.float64)"]


def test_decreasing_times_are_reported(graph: MeshGraph) -> None:
    graph.times = torch.tensor([0.0, 1.0, 0.5])
    assert validate(graph) == ["times: not strictly increasing"]


def test_user_keys_are_ignored(graph: MeshGraph) -> None:
    graph.my_feature = "anything"
    assert validate(graph) == []
