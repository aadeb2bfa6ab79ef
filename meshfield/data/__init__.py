"""Mesh graphs: construction, topology and validation.

A mesh is a :class:`MeshGraph` (a :class:`torch_geometric.data.Data`) whose reserved keys are
documented in :mod:`meshfield.data.keys`. :func:`mesh_graph` builds one from points, cells and
data; :func:`validate` checks one.
"""

from __future__ import annotations

from meshfield.data.build import cell_to_point, channel_names, mesh_graph
from meshfield.data.graph import MeshGraph
from meshfield.data.keys import CELL_TYPES, RESERVED_KEYS
from meshfield.data.topology import detect_boundary, edges_from_cells
from meshfield.data.validate import validate
from meshfield.errors import MeshValidationError

__all__ = [
    "CELL_TYPES",
    "RESERVED_KEYS",
    "MeshGraph",
    "MeshValidationError",
    "cell_to_point",
    "channel_names",
    "detect_boundary",
    "edges_from_cells",
    "mesh_graph",
    "validate",
]
