from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay
from torch_geometric.utils import is_undirected

from meshfield.data import detect_boundary, edges_from_cells, mesh_graph
from meshfield.errors import MeshValidationError
from meshfield.testing.meshes import tiny_meshes

MESHES = tiny_meshes()

# Written out again here (not imported) so the tests check the library's tables.
EDGES = {
    "line": [(0, 1)],
    "triangle": [(0, 1), (1, 2), (0, 2)],
    "quad": [(0, 1), (1, 2), (2, 3), (0, 3)],
    "tetra": [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)],
    "hexahedron": [
        (0, 1),
        (1, 2),
        (2, 3),
        (0, 3),
        (4, 5),
        (5, 6),
        (6, 7),
        (4, 7),
        (0, 4),
        (1, 5),
        (2, 6),
        (3, 7),
    ],
    "wedge": [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (0, 3), (1, 4), (2, 5)],
    "pyramid": [(0, 1), (1, 2), (2, 3), (0, 3), (0, 4), (1, 4), (2, 4), (3, 4)],
    "polygon5": [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4)],
}
FACES = {
    "tetra": [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)],
    "hexahedron": [
        (0, 1, 2, 3),
        (4, 5, 6, 7),
        (0, 1, 4, 5),
        (1, 2, 5, 6),
        (2, 3, 6, 7),
        (0, 3, 4, 7),
    ],
    "wedge": [(0, 1, 2), (3, 4, 5), (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5)],
    "pyramid": [(0, 1, 2, 3), (0, 1, 4), (1, 2, 4), (2, 3, 4), (0, 3, 4)],
}
DIM = {
    "line": 1,
    "triangle": 2,
    "quad": 2,
    "polygon5": 2,
    "tetra": 3,
    "hexahedron": 3,
    "wedge": 3,
    "pyramid": 3,
}


def reference_edges(cells: dict[str, np.ndarray]) -> set[tuple[int, int]]:
    edges = set()
    for cell_type, conn in cells.items():
        for cell in np.asarray(conn).tolist():
            for a, b in EDGES.get(cell_type, []):
                if cell[a] != cell[b]:
                    edges.add((min(cell[a], cell[b]), max(cell[a], cell[b])))
    return edges


def reference_boundary(cells: dict[str, np.ndarray], num_nodes: int) -> np.ndarray:
    top = max(DIM[t] for t in cells)
    counts: Counter = Counter()
    for cell_type, conn in cells.items():
        if DIM[cell_type] != top:
            continue
        for cell in np.asarray(conn).tolist():
            if top == 1:
                facets = [(cell[0],), (cell[1],)]
            elif top == 2:
                facets = [(cell[a], cell[b]) for a, b in EDGES[cell_type]]
            else:
                facets = [tuple(cell[i] for i in face) for face in FACES[cell_type]]
            counts.update(frozenset(f) for f in facets)
    mask = np.zeros(num_nodes, dtype=bool)
    for facet, count in counts.items():
        if count == 1:
            mask[list(facet)] = True
    return mask


@pytest.mark.parametrize("name", sorted(MESHES))
def test_edge_count_matches_hand_count(name: str) -> None:
    pos, cells, num_edges, _ = MESHES[name]
    edge_index = edges_from_cells(cells, len(pos))
    assert edge_index.shape == (2, 2 * num_edges)
    assert edge_index.dtype == torch.int64


@pytest.mark.parametrize("name", sorted(MESHES))
def test_boundary_matches_hand_answer(name: str) -> None:
    pos, cells, _, boundary = MESHES[name]
    assert detect_boundary(cells, len(pos)).tolist() == boundary.tolist()


@pytest.mark.parametrize("name", sorted(MESHES))
def test_edges_match_slow_reference(name: str) -> None:
    pos, cells, _, _ = MESHES[name]
    edge_index = edges_from_cells(cells, len(pos))
    pairs = {(a, b) for a, b in edge_index.t().tolist() if a < b}
    assert pairs == reference_edges(cells)


@pytest.mark.parametrize("name", sorted(MESHES))
def test_edge_index_is_coalesced_undirected_without_loops(name: str) -> None:
    pos, cells, _, _ = MESHES[name]
    edge_index = edges_from_cells(cells, len(pos))
    keys = edge_index[0] * len(pos) + edge_index[1]
    assert bool((keys[1:] > keys[:-1]).all())  # sorted by (row, col), no duplicates
    assert is_undirected(edge_index, num_nodes=len(pos))
    assert not bool((edge_index[0] == edge_index[1]).any())


def test_every_cell_type_is_covered_by_the_tiny_meshes() -> None:
    types = {t for mesh in MESHES.values() for t in mesh.cells}
    assert {
        "line",
        "triangle",
        "quad",
        "polygon5",
        "tetra",
        "hexahedron",
        "wedge",
        "pyramid",
    } <= types


def test_tetra_edges_are_the_six_edges_not_all_pairs_of_a_hexahedron() -> None:
    # a hexahedron has 28 node pairs but only 12 edges
    assert edges_from_cells({"hexahedron": [list(range(8))]}).shape[1] == 24


def test_vertex_cells_give_no_edges() -> None:
    assert edges_from_cells({"vertex": [[0], [1]]}, 2).shape == (2, 0)
    pos, cells, num_edges, _ = MESHES["two_triangles"]
    with_vertices = {**cells, "vertex": np.array([[0], [3]])}
    assert edges_from_cells(with_vertices, 4).shape[1] == 2 * num_edges
    assert not detect_boundary({"vertex": [[0], [1]]}, 2).any()


def test_collapsed_cell_side_is_no_self_loop() -> None:
    edge_index = edges_from_cells({"quad": [[0, 1, 2, 2]]}, 3)
    assert edge_index.shape[1] == 6
    assert not bool((edge_index[0] == edge_index[1]).any())


def test_blocks_of_one_type_are_merged_in_order() -> None:
    blocks = [("triangle", [[0, 1, 2]]), ("line", [[0, 1]]), ("triangle", [[0, 2, 3]])]
    graph = mesh_graph(MESHES["two_triangles"].pos, blocks)
    assert graph.cells["triangle"].tolist() == [[0, 1, 2], [0, 2, 3]]
    assert list(graph.cells) == ["triangle", "line"]


def test_meshio_polygon_blocks_are_named_by_size() -> None:
    import meshio

    pos = MESHES["pentagon_triangle"].pos
    blocks = [
        meshio.CellBlock("polygon", np.array([[0, 1, 2, 3, 4]])),
        meshio.CellBlock("triangle", [[1, 5, 2]]),
    ]
    graph = mesh_graph(pos, blocks)
    assert set(graph.cells) == {"polygon5", "triangle"}
    assert graph.edge_index.shape[1] == 2 * 7


def test_unsupported_cell_type_is_an_error() -> None:
    with pytest.raises(MeshValidationError, match="triangle6"):
        edges_from_cells({"triangle6": [[0, 1, 2, 3, 4, 5]]})


def test_wrong_nodes_per_cell_is_an_error() -> None:
    with pytest.raises(MeshValidationError, match=r"cells\['tetra'\].*\[n_cells, 4\].*\[1, 3\]"):
        edges_from_cells({"tetra": [[0, 1, 2]]})


@pytest.mark.parametrize("name", ["hex_grid_2x2x2", "hex_wedge", "octahedron_tets", "hex_pyramid"])
def test_boundary_with_many_nodes_uses_exact_row_matching(name: str) -> None:
    # with N this large a quad or triangle face no longer packs into one int64 key
    pos, cells, _, boundary = MESHES[name]
    num_nodes = 3_000_000
    mask = detect_boundary(cells, num_nodes)
    assert mask[: len(pos)].tolist() == boundary.tolist()
    assert not mask[len(pos) :].any()


def test_random_mixed_volume_mesh_matches_reference() -> None:
    rng = np.random.default_rng(1)
    pos, cells, _, _ = MESHES["hex_grid_2x2x2"]
    # split the hexes at random into keeping / dropping, then renumber nodes at random
    keep = cells["hexahedron"][rng.random(8) < 0.6]
    perm = rng.permutation(27)
    shuffled = {"hexahedron": perm[keep]}
    assert detect_boundary(shuffled, 27).tolist() == reference_boundary(shuffled, 27).tolist()
    assert {
        tuple(e) for e in edges_from_cells(shuffled, 27).t().tolist() if e[0] < e[1]
    } == reference_edges(shuffled)


points_2d = st.integers(min_value=4, max_value=60).flatmap(
    lambda n: st.lists(
        st.tuples(st.floats(0, 1, allow_nan=False), st.floats(0, 1, allow_nan=False)),
        min_size=n,
        max_size=n,
        unique=True,
    )
)


@settings(max_examples=40, deadline=None)
@given(points_2d, st.integers(0, 2**31 - 1))
def test_delaunay_triangulations_satisfy_euler(points: list, seed: int) -> None:
    pos = np.asarray(points)
    rng = np.random.default_rng(seed)
    pos = pos + rng.normal(scale=1e-3, size=pos.shape)  # general position
    tri = Delaunay(pos)
    graph = mesh_graph(pos, {"triangle": tri.simplices})
    num_faces = len(tri.simplices)
    num_edges = graph.edge_index.shape[1] // 2
    used = np.unique(tri.simplices)
    # a triangulated disk: V - E + F = 1
    assert len(used) - num_edges + num_faces == 1
    # every edge has two triangles except the hull edges: 3 F = 2 E - B
    hull_edges = len(tri.convex_hull)
    assert 3 * num_faces == 2 * num_edges - hull_edges
    # boundary nodes are the nodes of the convex hull
    expected = np.zeros(len(pos), dtype=bool)
    expected[tri.convex_hull.reshape(-1)] = True
    assert graph.boundary.bool().tolist() == expected.tolist()
    edge_index = graph.edge_index
    keys = edge_index[0] * len(pos) + edge_index[1]
    assert bool((keys[1:] > keys[:-1]).all())
    assert is_undirected(edge_index, num_nodes=len(pos))
