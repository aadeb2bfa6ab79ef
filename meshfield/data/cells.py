"""Cell types: their dimension, edges and facets in meshio/VTK node order, and the one place
that turns user input (a dict, a list of blocks, meshio ``CellBlock`` objects) into the
``cells`` dict of a :class:`~meshfield.data.MeshGraph`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from meshfield.data.keys import CELL_TYPES
from meshfield.errors import MeshValidationError

__all__ = [
    "CellsLike",
    "as_cell_arrays",
    "cell_dim",
    "cell_edges",
    "cell_facets",
    "is_cell_type",
    "nodes_per_cell",
]

#: What :func:`meshfield.data.mesh_graph` accepts as ``cells``.
CellsLike = Mapping[str, Any] | Sequence[Any]

_POLYGON = re.compile(r"^polygon(\d+)$")

_DIM: dict[str, int] = {
    "vertex": 0,
    "line": 1,
    "triangle": 2,
    "quad": 2,
    "tetra": 3,
    "hexahedron": 3,
    "wedge": 3,
    "pyramid": 3,
}

# Edges of each cell type as pairs of local node numbers, in VTK/meshio node order:
# hexahedron = bottom quad 0-1-2-3, top quad 4-5-6-7 above it; wedge = triangles 0-1-2 and
# 3-4-5 joined by 0-3, 1-4, 2-5; pyramid = base quad 0-1-2-3 and apex 4.
_EDGES: dict[str, tuple[tuple[int, int], ...]] = {
    "vertex": (),
    "line": ((0, 1),),
    "triangle": ((0, 1), (1, 2), (2, 0)),
    "quad": ((0, 1), (1, 2), (2, 3), (3, 0)),
    "tetra": ((0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)),
    "hexahedron": (
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 0),
        (4, 5),
        (5, 6),
        (6, 7),
        (7, 4),
        (0, 4),
        (1, 5),
        (2, 6),
        (3, 7),
    ),
    "wedge": ((0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (0, 3), (1, 4), (2, 5)),
    "pyramid": ((0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4), (2, 4), (3, 4)),
}

# Faces of the volume cells, split by size (triangles, quads); orientation does not matter here
# because faces are matched by their node sets.
_FACES: dict[str, tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]] = {
    "tetra": (((0, 1, 2), (0, 1, 3), (1, 2, 3), (0, 2, 3)), ()),
    "hexahedron": (
        (),
        (
            (0, 1, 2, 3),
            (4, 5, 6, 7),
            (0, 1, 5, 4),
            (1, 2, 6, 5),
            (2, 3, 7, 6),
            (3, 0, 4, 7),
        ),
    ),
    "wedge": (((0, 1, 2), (3, 4, 5)), ((0, 1, 4, 3), (1, 2, 5, 4), (2, 0, 3, 5))),
    "pyramid": (((0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)), ((0, 1, 2, 3),)),
}


def _polygon_size(cell_type: str) -> int | None:
    match = _POLYGON.match(cell_type)
    if match is None:
        return None
    return int(match.group(1))


def is_cell_type(name: str) -> bool:
    """Whether ``name`` is a cell type meshfield understands (``polygonK`` with K >= 3 too)."""
    if name in _DIM:
        return True
    k = _polygon_size(name)
    return k is not None and k >= 3


def nodes_per_cell(cell_type: str) -> int:
    """Number of nodes of one cell of ``cell_type``."""
    k = _polygon_size(cell_type)
    return k if k is not None else CELL_TYPES[cell_type]


def cell_dim(cell_type: str) -> int:
    """Topological dimension of ``cell_type``: 0 vertex, 1 line, 2 surface, 3 volume."""
    return 2 if _polygon_size(cell_type) is not None else _DIM[cell_type]


def cell_edges(cell_type: str) -> np.ndarray:
    """Local node pairs of the edges of one cell, ``int64 [num_edges, 2]``."""
    k = _polygon_size(cell_type)
    if k is not None:
        local = np.arange(k)
        return np.stack([local, np.roll(local, -1)], axis=1)
    return np.asarray(_EDGES[cell_type], dtype=np.int64).reshape(-1, 2)


def cell_facets(cell_type: str) -> list[np.ndarray]:
    """Local node lists of the facets of one cell (the cells of one dimension lower).

    Returns one ``int64 [num_facets, k]`` array per facet size ``k``: edges for surface cells,
    triangles and quads for volume cells, single nodes for lines, nothing for vertices.
    """
    dim = cell_dim(cell_type)
    if dim == 0:
        return []
    if dim == 1:
        return [np.array([[0], [1]], dtype=np.int64)]
    if dim == 2:
        return [cell_edges(cell_type)]
    return [np.asarray(f, dtype=np.int64) for f in _FACES[cell_type] if len(f)]


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _blocks(cells: CellsLike, source: str) -> list[tuple[str, Any]]:
    if isinstance(cells, Mapping):
        return list(cells.items())
    if isinstance(cells, (str, bytes)) or not isinstance(cells, Sequence):
        msg = (
            f"{source}cells: expected a dict of cell type -> [n_cells, k] array or a list of "
            f"(type, array) blocks (got {type(cells).__name__})"
        )
        raise MeshValidationError(msg)
    blocks = []
    for block in cells:
        if hasattr(block, "type") and hasattr(block, "data"):  # meshio.CellBlock
            blocks.append((block.type, block.data))
        elif isinstance(block, Sequence) and len(block) == 2 and isinstance(block[0], str):
            blocks.append((block[0], block[1]))
        else:
            msg = (
                f"{source}cells: expected each block to be a (type, array) pair or a "
                f"meshio.CellBlock (got {type(block).__name__})"
            )
            raise MeshValidationError(msg)
    return blocks


def as_cell_arrays(
    cells: CellsLike,
    num_nodes: int | None = None,
    *,
    source: str | None = None,
) -> tuple[dict[str, np.ndarray], list[tuple[str, int]]]:
    """Normalize ``cells`` to a dict of cell type -> ``int64 [n_cells, k]`` numpy arrays.

    Blocks of one type are concatenated in the order given. meshio's ``"polygon"`` blocks are
    renamed ``"polygonK"`` after their node count ``K``, so that polygons of different sizes
    stay apart.

    Parameters
    ----------
    cells : dict or list
        ``{type: array}``, a list of ``(type, array)`` pairs or of ``meshio.CellBlock``.
    num_nodes : int, optional
        When given, every index must lie in ``[0, num_nodes)``. default: not checked.
    source : str, optional
        Names the input in error messages. default: none.

    Returns
    -------
    cells : dict[str, numpy.ndarray]
        Connectivity per cell type.
    blocks : list[tuple[str, int]]
        ``(type, n_cells)`` of every input block, in input order (to merge per-block data the
        same way).

    Raises
    ------
    MeshValidationError
        Unknown cell type, wrong number of nodes per cell, non-integer or out-of-range indices.
    """
    prefix = f"{source}: " if source else ""
    parts: dict[str, list[np.ndarray]] = {}
    block_sizes: list[tuple[str, int]] = []
    for cell_type, data in _blocks(cells, prefix):
        array = _to_numpy(data)
        if cell_type == "polygon" and array.ndim == 2:
            cell_type = f"polygon{array.shape[1]}"
        if not is_cell_type(cell_type):
            supported = ", ".join([*CELL_TYPES, "polygonK"])
            msg = f"{prefix}cells: unsupported cell type {cell_type!r} (supported: {supported})"
            raise MeshValidationError(msg)
        k = nodes_per_cell(cell_type)
        if array.size == 0:
            array = array.reshape(0, k)
        if array.ndim != 2 or array.shape[1] != k:
            msg = (
                f"{prefix}cells[{cell_type!r}]: expected an array of shape [n_cells, {k}] "
                f"(got {list(array.shape)})"
            )
            raise MeshValidationError(msg)
        if array.dtype.kind not in "iu":
            if array.dtype.kind == "f" and np.array_equal(array, np.round(array)):
                array = array.astype(np.int64)
            else:
                msg = (
                    f"{prefix}cells[{cell_type!r}]: expected integer node indices "
                    f"(got dtype {array.dtype})"
                )
                raise MeshValidationError(msg)
        array = array.astype(np.int64, copy=False)
        if num_nodes is not None and array.size:
            low, high = int(array.min()), int(array.max())
            if low < 0 or high >= num_nodes:
                msg = (
                    f"{prefix}cells[{cell_type!r}]: expected node indices in [0, {num_nodes}) "
                    f"for N = {num_nodes} nodes (got indices from {low} to {high})"
                )
                raise MeshValidationError(msg)
        parts.setdefault(cell_type, []).append(array)
        block_sizes.append((cell_type, len(array)))
    merged = {
        cell_type: arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        for cell_type, arrays in parts.items()
    }
    return merged, block_sizes
