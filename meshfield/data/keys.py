"""The reserved keys of a meshfield graph, documented once.

A mesh in meshfield is a :class:`torch_geometric.data.Data` (in practice the subclass
:class:`meshfield.data.MeshGraph`, which batches cells correctly). These keys have a fixed
meaning; :func:`meshfield.data.validate` checks every one that is present. Any other key is the
user's own and is carried along untouched.

=================  ==========================  ==================================================
key                type / shape                meaning
=================  ==========================  ==================================================
``pos``            float32 ``[N, d]``          node coordinates, ``d`` = 2 or 3. Points given in 3D
                                               with one constant z are stored as 2D (``d`` = 2) and
                                               the constant is kept in ``z0`` so writers restore it.
``z0``             float                       the constant z of a planar mesh read from 3D points
                                               (absent for genuinely 2D or 3D input).
``cells``          ``dict[str, LongTensor]``   connectivity per meshio cell type (``"triangle"``,
                                               ``"quad"``, ``"polygon5"``, ``"tetra"``,
                                               ``"hexahedron"``, ``"wedge"``, ``"pyramid"``,
                                               ``"line"``, ``"vertex"``, ...), each ``[n_cells, k]``
                                               with the node order of the source file (meshio/VTK
                                               convention). Blocks of one type are merged in file
                                               order; no cell is reordered within its type.
``edge_index``     int64 ``[2, E]``            the unique undirected edges of every cell (both
                                               directions stored, coalesced, no self loops), as in
                                               PyG's undirected convention.
``boundary``       int64 ``[N]``               0 for interior nodes, ``g > 0`` for nodes on boundary
                                               group ``g``.
``boundary_names`` ``list[str]``               ``boundary_names[g]`` names group ``g``;
                                               ``boundary_names[0] == "interior"``.
``fields``         float32 ``[T, N, C]``       point data over ``T`` time steps.
``field_names``    ``list[str]``               one name per channel ``C``; vector data ``U`` with 2
                                               or 3 components becomes ``U_x``, ``U_y`` (, ``U_z``),
                                               other multi-component data ``A_0``, ``A_1``, ...
``times``          float32 ``[T]``             the time of each step of ``fields``.
``cell_fields``    ``dict[str, Tensor]``       cell data kept on cells (when not moved to nodes):
                                               per cell type ``[T, n_cells, C_cell]``.
``cell_field_names`` ``list[str]``             names of the ``C_cell`` cell channels.
``cond``           float32 ``[K]``             global physical conditions (e.g. Reynolds number).
``cond_names``     ``list[str]``               one name per condition.
``grid_shape``     ``tuple[int, ...]``         set by :func:`meshfield.from_grid`: the grid's point
                                               counts per axis, so :func:`meshfield.to_grid` maps
                                               back exactly.
=================  ==========================  ==================================================

Conventions
-----------
* Node order is the order of the source's points and never changes on reading or writing.
* A boundary node that belongs to several groups gets the group with the smallest id.
* Keys that are not present are simply absent (``"fields" not in data``); nothing is ever
  stored as an empty placeholder except ``boundary`` (all zeros for a mesh without boundary).
"""

from __future__ import annotations

__all__ = ["RESERVED_KEYS", "CELL_TYPES"]

#: The keys documented above.
RESERVED_KEYS: tuple[str, ...] = (
    "pos",
    "z0",
    "cells",
    "edge_index",
    "boundary",
    "boundary_names",
    "fields",
    "field_names",
    "times",
    "cell_fields",
    "cell_field_names",
    "cond",
    "cond_names",
    "grid_shape",
)

#: Nodes per cell for the fixed-size cell types meshfield understands (meshio names).
#: ``polygonK`` blocks (any K >= 3) are accepted in addition to these.
CELL_TYPES: dict[str, int] = {
    "vertex": 1,
    "line": 2,
    "triangle": 3,
    "quad": 4,
    "tetra": 4,
    "hexahedron": 8,
    "wedge": 6,
    "pyramid": 5,
}
