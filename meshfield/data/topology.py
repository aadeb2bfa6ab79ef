"""Mesh topology from cells: the undirected edge set and the topological boundary.

Both work on integer keys: a node pair (or a sorted triangle/quad) is packed into one int64 by
bit shifts, so "unique edges" and "facets used by exactly one cell" become one ``np.sort`` and
a comparison of neighbours. Packing keeps lexicographic order, so the sorted keys decode
straight into a coalesced ``edge_index``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from meshfield.data.cells import CellsLike, as_cell_arrays, cell_dim, cell_edges, cell_facets

__all__ = ["detect_boundary", "edges_from_cells"]


def _bits(num_nodes: int) -> int:
    return max(1, int(num_nodes - 1).bit_length())


def _sort_columns(columns: list[np.ndarray]) -> list[np.ndarray]:
    """Sort k node-id columns elementwise, so that row i of the result is sorted ascending.

    Min/max sorting networks for k <= 4 (the sizes of edges, triangles and quads) keep this a
    handful of vectorized passes instead of a sort per row.
    """
    k = len(columns)
    if k == 1:
        return columns
    if k == 2:
        a, b = columns
        return [np.minimum(a, b), np.maximum(a, b)]
    if k == 3:
        a, b, c = columns
        low = np.minimum(np.minimum(a, b), c)
        high = np.maximum(np.maximum(a, b), c)
        return [low, a + b + c - low - high, high]
    if k == 4:
        cols = list(columns)
        for i, j in ((0, 1), (2, 3), (0, 2), (1, 3), (1, 2)):
            cols[i], cols[j] = np.minimum(cols[i], cols[j]), np.maximum(cols[i], cols[j])
        return cols
    rows = np.sort(np.stack(columns, axis=1), axis=1)
    return [rows[:, j] for j in range(k)]


def _pack(columns: list[np.ndarray], bits: int) -> np.ndarray:
    """One int64 key per row of sorted columns, lexicographic order kept (``k * bits <= 63``)."""
    key = columns[0].copy()
    for column in columns[1:]:
        key <<= bits
        key |= column
    return key


def _unpack(keys: np.ndarray, k: int, bits: int) -> np.ndarray:
    mask = (1 << bits) - 1
    return np.stack([(keys >> (bits * (k - 1 - j))) & mask for j in range(k)], axis=1)


def _unique_sorted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys and how often each occurs (``np.unique`` without its overhead)."""
    if keys.size == 0:
        return keys, np.zeros(0, dtype=np.int64)
    keys = np.sort(keys)
    first = np.empty(keys.shape, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(starts, append=keys.size)
    return keys[starts], counts


def _columns(
    cells: dict[str, np.ndarray],
    types: list[str],
    entities: Callable[[str], list[np.ndarray]],
    size: int,
) -> list[np.ndarray] | None:
    """Global node ids of the sub-entities (edges, faces) of ``size`` nodes of every cell.

    ``entities(type)`` gives local node lists ``[m, k]``; the result has one flat column per
    position ``j < size``: column j holds node j of every sub-entity of every cell.
    """
    parts = []
    for cell_type in types:
        conn = cells[cell_type]
        for local in entities(cell_type):
            if local.shape[1] == size and local.shape[0] and len(conn):
                parts.append([conn[:, local[:, j]].reshape(-1) for j in range(size)])
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return [np.concatenate([part[j] for part in parts]) for j in range(size)]


def _edge_keys(cells: dict[str, np.ndarray], bits: int, types: list[str]) -> np.ndarray:
    columns = _columns(cells, types, lambda t: [cell_edges(t)], 2)
    if columns is None:
        return np.zeros(0, dtype=np.int64)
    low, high = _sort_columns(columns)
    proper = low != high  # a collapsed cell side is no edge
    if not proper.all():
        low, high = low[proper], high[proper]
    return _pack([low, high], bits)


def _undirected(unique_keys: np.ndarray, bits: int) -> Tensor:
    """Coalesced ``[2, 2E]`` edge_index from sorted unique keys of (low, high) pairs."""
    mask = (1 << bits) - 1
    low, high = unique_keys >> bits, unique_keys & mask
    both = np.concatenate([unique_keys, (high << bits) | low])
    both.sort()
    return torch.from_numpy(np.stack([both >> bits, both & mask]))


def _single_facet_nodes(columns: list[np.ndarray], num_nodes: int) -> np.ndarray:
    """Node ids of the facets (given as node-id columns) that occur exactly once."""
    k = len(columns)
    columns = _sort_columns(columns)
    bits = _bits(num_nodes)
    if k * bits <= 63:
        keys, counts = _unique_sorted(_pack(columns, bits))
        return _unpack(keys[counts == 1], k, bits).reshape(-1)
    # too many nodes to pack a facet into one int64: exact row matching after a lexsort
    order = np.lexsort(columns[::-1])
    rows = np.stack([column[order] for column in columns], axis=1)
    same = np.all(rows[1:] == rows[:-1], axis=1)
    single = np.ones(len(rows), dtype=bool)
    single[1:] &= ~same
    single[:-1] &= ~same
    return rows[single].reshape(-1)


def _top_dim(cells: dict[str, np.ndarray]) -> int:
    dims = [cell_dim(t) for t, c in cells.items() if len(c)]
    return max(dims, default=0)


def _boundary(cells: dict[str, np.ndarray], num_nodes: int) -> tuple[Tensor, np.ndarray | None]:
    """Boundary mask of normalized cells, and the sorted unique edge keys when computing the
    mask produced them anyway (surface meshes), so the edge set needs no second sort."""
    bits = _bits(num_nodes)
    top = _top_dim(cells)
    types = [t for t, c in cells.items() if len(c)]
    top_types = [t for t in types if cell_dim(t) == top]
    mask = np.zeros(num_nodes, dtype=bool)
    unique_edges = None
    if top == 1:
        ends = np.concatenate([cells[t].reshape(-1) for t in top_types])
        mask[np.bincount(ends, minlength=num_nodes) == 1] = True
    elif top == 2:
        keys, counts = _unique_sorted(_edge_keys(cells, bits, top_types))
        mask[_unpack(keys[counts == 1], 2, bits).reshape(-1)] = True
        if all(cell_dim(t) == 2 for t in types if cell_dim(t) > 0):
            unique_edges = keys
    elif top == 3:
        for size in (3, 4):
            columns = _columns(cells, top_types, cell_facets, size)
            if columns is not None:
                mask[_single_facet_nodes(columns, num_nodes)] = True
    return torch.from_numpy(mask), unique_edges


def _edges(
    cells: dict[str, np.ndarray], num_nodes: int, unique_edges: np.ndarray | None = None
) -> Tensor:
    """Coalesced undirected edge_index of normalized cells."""
    bits = _bits(num_nodes)
    if unique_edges is None:
        types = [t for t, c in cells.items() if len(c)]
        unique_edges, _ = _unique_sorted(_edge_keys(cells, bits, types))
    return _undirected(unique_edges, bits)


def _num_nodes(cells: dict[str, np.ndarray], num_nodes: int | None) -> int:
    if num_nodes is not None:
        return int(num_nodes)
    return max((int(c.max()) + 1 for c in cells.values() if c.size), default=0)


def edges_from_cells(cells: CellsLike, num_nodes: int | None = None) -> Tensor:
    r"""The unique undirected edges of a mesh's cells, as a PyG ``edge_index``.

    Every cell contributes the edges of its type (a tetrahedron its 6 edges, a hexahedron its
    12, a polygon its sides; not all node pairs), a vertex cell none. Each undirected edge is
    stored in both directions, sorted by (row, col) and without self loops, which is the form
    :func:`torch_geometric.utils.to_undirected` returns.

    Parameters
    ----------
    cells : dict or list
        Cell type -> ``[n_cells, k]`` node indices, or a list of ``(type, array)`` blocks.
    num_nodes : int, optional
        Number of nodes ``N``. default: largest index + 1.

    Returns
    -------
    torch.Tensor
        ``edge_index``.

    Shapes
    ------
    - **cells[type]**: ``[n_cells, k]``
    - **output**: ``[2, 2E]`` int64 for ``E`` undirected edges

    Example
    -------
    >>> edges_from_cells({"triangle": [[0, 1, 2], [0, 2, 3]]}).shape
    torch.Size([2, 10])
    """
    arrays, _ = as_cell_arrays(cells, num_nodes)
    return _edges(arrays, _num_nodes(arrays, num_nodes))


def detect_boundary(cells: CellsLike, num_nodes: int | None = None) -> Tensor:
    r"""Nodes on the topological boundary of a mesh.

    A facet (an edge of a surface mesh, a face of a volume mesh, an end point of a line mesh)
    is on the boundary when exactly one cell of the mesh's top dimension uses it; the nodes of
    such facets are boundary nodes. Lower-dimensional cells (e.g. boundary lines stored beside
    triangles) do not count. A surface in 3D space has its open edges as boundary, a closed
    surface has none.

    Parameters
    ----------
    cells : dict or list
        Cell type -> ``[n_cells, k]`` node indices, or a list of ``(type, array)`` blocks.
    num_nodes : int, optional
        Number of nodes ``N``. default: largest index + 1.

    Returns
    -------
    torch.Tensor
        Boolean mask, ``True`` on boundary nodes.

    Shapes
    ------
    - **output**: ``[N]`` bool

    Example
    -------
    >>> detect_boundary({"quad": [[0, 1, 4, 3], [1, 2, 5, 4]]}).tolist()
    [True, True, True, True, True, True]
    """
    arrays, _ = as_cell_arrays(cells, num_nodes)
    return _boundary(arrays, _num_nodes(arrays, num_nodes))[0]
