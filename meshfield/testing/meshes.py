"""Tiny meshes whose edge counts and boundary nodes were worked out by hand.

Use them to test anything that reads cells: every cell type meshfield understands appears in
at least one mesh, in meshio/VTK node order. The answers were counted on paper, not computed,
so they can check :func:`meshfield.data.edges_from_cells` and
:func:`meshfield.data.detect_boundary` rather than repeat them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["TinyMesh", "tiny_meshes"]


class TinyMesh(NamedTuple):
    """A small mesh and its hand-computed answers; unpacks as a 4-tuple."""

    pos: np.ndarray  #: float64 ``[N, d]``
    cells: dict[str, np.ndarray]  #: cell type -> int64 ``[n_cells, k]``
    num_edges: int  #: number of unique undirected edges ``E`` (``edge_index`` has ``2E`` columns)
    boundary: np.ndarray  #: bool ``[N]``, the topological boundary nodes


def _mesh(pos: list, cells: dict[str, list], num_edges: int, boundary: list[int]) -> TinyMesh:
    points = np.asarray(pos, dtype=np.float64)
    mask = np.zeros(len(points), dtype=bool)
    mask[boundary] = True
    return TinyMesh(
        points,
        {t: np.asarray(c, dtype=np.int64).reshape(len(c), -1) for t, c in cells.items()},
        num_edges,
        mask,
    )


_SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]
_CUBE = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]]
_GRID3 = [[i, j] for j in range(3) for i in range(3)]  # node i + 3 j
_GRID3X3X3 = [[i, j, k] for k in range(3) for j in range(3) for i in range(3)]  # i + 3 j + 9 k


def _grid_quads() -> list[list[int]]:
    def n(i: int, j: int) -> int:
        return i + 3 * j

    return [
        [n(i, j), n(i + 1, j), n(i + 1, j + 1), n(i, j + 1)] for j in range(2) for i in range(2)
    ]


def _grid_hexes() -> list[list[int]]:
    def n(i: int, j: int, k: int) -> int:
        return i + 3 * j + 9 * k

    hexes = []
    for k in range(2):
        for j in range(2):
            for i in range(2):
                bottom = [n(i, j, k), n(i + 1, j, k), n(i + 1, j + 1, k), n(i, j + 1, k)]
                top = [
                    n(i, j, k + 1),
                    n(i + 1, j, k + 1),
                    n(i + 1, j + 1, k + 1),
                    n(i, j + 1, k + 1),
                ]
                hexes.append(bottom + top)
    return hexes


def tiny_meshes() -> dict[str, TinyMesh]:
    """All tiny meshes by name.

    ===========================  ==========================================  =====  ==============
    name                         what                                        edges  interior nodes
    ===========================  ==========================================  =====  ==============
    ``two_triangles``            unit square cut along a diagonal            5      none
    ``triangle_fan``             square of 4 triangles around a centre node  8      centre (4)
    ``fan_with_lines``           the fan plus line cells on its sides        8      centre (4)
    ``quad_grid_2x2``            2 x 2 quads on 3 x 3 nodes                  12     centre (4)
    ``tri_quad``                 a quad and a triangle sharing a side        6      none
    ``pentagon_triangle``        a ``polygon5`` and a triangle               7      none
    ``polyline``                 3 line cells in a row                       3      nodes 1, 2
    ``closed_surface``           the 4 triangles of a tetrahedron's surface  6      all (closed)
    ``open_surface_3d``          2 triangles folded in 3D                    5      none
    ``single_tetra``             one tetrahedron                             6      none
    ``two_tetras``               two tetrahedra sharing a face               9      none
    ``octahedron_tets``          8 tetrahedra around a centre node           18     centre (6)
    ``hexahedron``               one unit cube                               12     none
    ``hex_grid_2x2x2``           2 x 2 x 2 hexahedra on 3 x 3 x 3 nodes      54     centre (13)
    ``wedge``                    one triangular prism                        9      none
    ``pyramid``                  one square pyramid                          8      none
    ``hex_pyramid``              a cube with a pyramid on its top face       16     none
    ``hex_wedge``                a cube with a wedge on its x = 1 face       17     none
    ===========================  ==========================================  =====  ==============

    Returns
    -------
    dict[str, TinyMesh]
        Fresh arrays on every call.

    Example
    -------
    >>> pos, cells, num_edges, boundary = tiny_meshes()["quad_grid_2x2"]
    >>> num_edges, int(boundary.sum())
    (12, 8)
    """
    fan_pos = [*_SQUARE, [0.5, 0.5]]
    fan = [[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]
    octahedron = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1], [0, 0, 0]]
    octants = [[6, x, y, z] for x in (0, 1) for y in (2, 3) for z in (4, 5)]
    return {
        "two_triangles": _mesh(_SQUARE, {"triangle": [[0, 1, 2], [0, 2, 3]]}, 5, [0, 1, 2, 3]),
        "triangle_fan": _mesh(fan_pos, {"triangle": fan}, 8, [0, 1, 2, 3]),
        "fan_with_lines": _mesh(
            fan_pos,
            {"triangle": fan, "line": [[0, 1], [1, 2], [2, 3], [3, 0]]},
            8,
            [0, 1, 2, 3],
        ),
        "quad_grid_2x2": _mesh(_GRID3, {"quad": _grid_quads()}, 12, [0, 1, 2, 3, 5, 6, 7, 8]),
        "tri_quad": _mesh(
            [*_SQUARE, [2, 0.5]],
            {"quad": [[0, 1, 2, 3]], "triangle": [[1, 4, 2]]},
            6,
            [0, 1, 2, 3, 4],
        ),
        "pentagon_triangle": _mesh(
            [[0, 0], [1, 0], [1.3, 0.9], [0.5, 1.5], [-0.3, 0.9], [2, 0.5]],
            {"polygon5": [[0, 1, 2, 3, 4]], "triangle": [[1, 5, 2]]},
            7,
            [0, 1, 2, 3, 4, 5],
        ),
        "polyline": _mesh(
            [[0, 0], [1, 0], [2, 0.5], [3, 0.5]], {"line": [[0, 1], [1, 2], [2, 3]]}, 3, [0, 3]
        ),
        "closed_surface": _mesh(
            [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
            {"triangle": [[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]]},
            6,
            [],
        ),
        "open_surface_3d": _mesh(
            [[0, 0, 0], [1, 0, 0], [1, 1, 1], [0, 1, 0]],
            {"triangle": [[0, 1, 2], [0, 2, 3]]},
            5,
            [0, 1, 2, 3],
        ),
        "single_tetra": _mesh(
            [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], {"tetra": [[0, 1, 2, 3]]}, 6, [0, 1, 2, 3]
        ),
        "two_tetras": _mesh(
            [[0, 0, -1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
            {"tetra": [[0, 1, 2, 3], [1, 2, 3, 4]]},
            9,
            [0, 1, 2, 3, 4],
        ),
        "octahedron_tets": _mesh(octahedron, {"tetra": octants}, 18, [0, 1, 2, 3, 4, 5]),
        "hexahedron": _mesh(_CUBE, {"hexahedron": [list(range(8))]}, 12, list(range(8))),
        "hex_grid_2x2x2": _mesh(
            _GRID3X3X3, {"hexahedron": _grid_hexes()}, 54, [n for n in range(27) if n != 13]
        ),
        "wedge": _mesh(
            [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1]],
            {"wedge": [[0, 1, 2, 3, 4, 5]]},
            9,
            list(range(6)),
        ),
        "pyramid": _mesh(
            [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 1]],
            {"pyramid": [[0, 1, 2, 3, 4]]},
            8,
            list(range(5)),
        ),
        "hex_pyramid": _mesh(
            [*_CUBE, [0.5, 0.5, 1.5]],
            {"hexahedron": [list(range(8))], "pyramid": [[4, 5, 6, 7, 8]]},
            16,
            list(range(9)),
        ),
        "hex_wedge": _mesh(
            [*_CUBE, [1.5, 0, 0.5], [1.5, 1, 0.5]],
            {"hexahedron": [list(range(8))], "wedge": [[1, 8, 5, 2, 9, 6]]},
            17,
            list(range(10)),
        ),
    }
