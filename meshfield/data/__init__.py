"""Mesh graphs: construction, topology and validation.

A mesh is a :class:`MeshGraph` (a :class:`torch_geometric.data.Data`) whose reserved keys are
documented in :mod:`meshfield.data.keys`. :func:`mesh_graph` builds one from points, cells and
data; :func:`validate` checks one.

Datasets: :func:`load_spec` reads a data spec (:mod:`meshfield.data.spec`), :func:`save_graph` /
:func:`load_graph` store one run per safetensors file, :func:`load_dataset` opens a generated
dataset as a PyG dataset and :func:`compute_stats` gives the normalization statistics (the
algorithm and the floor of a constant channel's standard deviation, shared with
:class:`meshfield.models.Normalizer`, are in :mod:`meshfield.data.stats`).
"""

from __future__ import annotations

from meshfield.data.build import cell_to_point, channel_names, mesh_graph
from meshfield.data.dataset import FieldStats, MeshDataset, compute_stats, load_dataset
from meshfield.data.graph import MeshGraph
from meshfield.data.keys import CELL_TYPES, RESERVED_KEYS
from meshfield.data.spec import DataSpec, load_spec
from meshfield.data.store import load_graph, save_graph
from meshfield.data.topology import detect_boundary, edges_from_cells
from meshfield.data.validate import validate
from meshfield.errors import MeshValidationError, SpecError

__all__ = [
    "CELL_TYPES",
    "RESERVED_KEYS",
    "DataSpec",
    "FieldStats",
    "MeshDataset",
    "MeshGraph",
    "MeshValidationError",
    "SpecError",
    "cell_to_point",
    "channel_names",
    "compute_stats",
    "detect_boundary",
    "edges_from_cells",
    "load_dataset",
    "load_graph",
    "load_spec",
    "mesh_graph",
    "save_graph",
    "validate",
]
