"""Check the reserved keys of a graph (:mod:`meshfield.data.keys`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from meshfield.data.cells import is_cell_type, nodes_per_cell
from meshfield.errors import MeshValidationError

__all__ = ["validate"]


def _shape(value: Any) -> str:
    if isinstance(value, Tensor):
        return str(list(value.shape))
    return type(value).__name__


class _Checker:
    """Holds the graph and the message prefix; each ``check_*`` raises on the first error."""

    def __init__(self, data: Data, source: str | None) -> None:
        self.data = data
        self.prefix = f"{source}: " if source else ""
        self.warnings: list[str] = []

    def fail(self, key: str, text: str) -> NoReturn:
        msg = f"{self.prefix}{key}: {text}"
        raise MeshValidationError(msg)

    def warn(self, key: str, text: str) -> None:
        self.warnings.append(f"{self.prefix}{key}: {text}")

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def tensor(self, key: str, value: Any, shape: str, *, floating: bool) -> Tensor:
        kind = "floating-point" if floating else "int64"
        if not isinstance(value, Tensor):
            self.fail(key, f"expected a {kind} tensor of shape {shape} (got {_shape(value)})")
        if floating and not torch.is_floating_point(value):
            self.fail(
                key, f"expected a floating-point tensor of shape {shape} (got dtype {value.dtype})"
            )
        if not floating and value.dtype != torch.int64:
            self.fail(key, f"expected an int64 tensor of shape {shape} (got dtype {value.dtype})")
        if floating and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            self.fail(key, f"expected finite values (got {bad} NaN or infinite entries)")
        return value

    def names(self, key: str, count: int, symbol: str, of: str) -> None:
        names = self.data[key]
        if isinstance(names, str) or not isinstance(names, Sequence):
            self.fail(
                key, f"expected a list of {symbol} = {count} names (got {type(names).__name__})"
            )
        if not all(isinstance(n, str) for n in names):
            self.fail(key, f"expected a list of str (got {[type(n).__name__ for n in names]})")
        if len(names) != count:
            self.fail(
                key,
                f"expected {symbol} = {count} names, one "
                f"per {of} (got {len(names)}: {list(names)})",
            )
        if len(set(names)) != len(names):
            self.fail(key, f"expected unique names (got {list(names)})")

    def orphan(self, names_key: str, data_key: str) -> None:
        if self.has(names_key) and not self.has(data_key):
            self.fail(names_key, f"given without {data_key}")

    # --- keys ------------------------------------------------------------------------------

    def check_pos(self) -> int:
        if not self.has("pos"):
            self.fail("pos", "expected node coordinates [N, d] (key missing)")
        pos = self.tensor("pos", self.data.pos, "[N, d]", floating=True)
        if pos.dim() != 2 or pos.shape[1] not in (2, 3):
            self.fail("pos", f"expected a tensor of shape [N, 2] or [N, 3] (got {_shape(pos)})")
        if pos.shape[0] == 0:
            self.fail("pos", f"expected at least one node (got an empty mesh, shape {_shape(pos)})")
        if pos.dtype != torch.float32:
            self.warn("pos", f"expected dtype float32 (got {pos.dtype})")
        return int(pos.shape[0])

    def check_z0(self, dim: int) -> None:
        if not self.has("z0"):
            return
        z0 = self.data.z0
        if isinstance(z0, Tensor) and z0.numel() == 1:
            z0 = float(z0)
        if isinstance(z0, bool) or not isinstance(z0, (int, float)) or not math.isfinite(z0):
            self.fail("z0", f"expected a finite float (got {z0!r})")
        if dim != 2:
            self.fail("z0", f"expected only with 2D pos, d = 2 (got d = {dim})")

    def check_cells(self, num_nodes: int) -> None:
        if not self.has("cells"):
            return
        cells = self.data.cells
        if not isinstance(cells, Mapping):
            self.fail(
                "cells",
                f"expected a dict of cell type -> [n_cells, k] tensor (got {type(cells).__name__})",
            )
        used = torch.zeros(num_nodes, dtype=torch.bool)
        for cell_type, conn in cells.items():
            key = f"cells[{cell_type!r}]"
            if not is_cell_type(str(cell_type)):
                self.fail(
                    key, "expected a meshio cell type such as 'triangle', 'tetra' or 'polygon5'"
                )
            k = nodes_per_cell(cell_type)
            conn = self.tensor(key, conn, f"[n_cells, {k}]", floating=False)
            if conn.dim() != 2 or conn.shape[1] != k:
                self.fail(key, f"expected a tensor of shape [n_cells, {k}] (got {_shape(conn)})")
            if conn.numel():
                low, high = int(conn.min()), int(conn.max())
                if low < 0 or high >= num_nodes:
                    self.fail(
                        key,
                        f"expected node indices in [0, {num_nodes}) for N = {num_nodes} nodes "
                        f"(got indices from {low} to {high})",
                    )
                used[conn.reshape(-1)] = True
        unused = int((~used).sum())
        if unused:
            first = int(torch.nonzero(~used)[0])
            self.warn(
                "cells", f"{unused} of N = {num_nodes} nodes are in no cell (first: node {first})"
            )

    def check_edge_index(self, num_nodes: int) -> None:
        if not self.has("edge_index"):
            return
        edge_index = self.tensor("edge_index", self.data.edge_index, "[2, E]", floating=False)
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            self.fail("edge_index", f"expected a tensor of shape [2, E] (got {_shape(edge_index)})")
        if edge_index.numel() == 0:
            return
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0 or high >= num_nodes:
            self.fail(
                "edge_index",
                f"expected node indices in [0, {num_nodes}) for N = {num_nodes} nodes "
                f"(got indices from {low} to {high})",
            )
        row, col = edge_index[0], edge_index[1]
        forward = row * num_nodes + col
        backward, _ = torch.sort(col * num_nodes + row)
        forward_sorted, _ = torch.sort(forward)
        if not torch.equal(forward_sorted, backward):
            missing = int((~torch.isin(backward, forward_sorted)).sum())
            self.fail(
                "edge_index",
                f"expected an undirected graph, every edge in both directions "
                f"(got {missing} of E = {edge_index.shape[1]} edges without their reverse)",
            )
        loops = int((row == col).sum())
        if loops:
            self.warn("edge_index", f"{loops} self loops (meshfield graphs have none)")
        if not bool((forward[1:] > forward[:-1]).all()):
            duplicates = int((forward_sorted[1:] == forward_sorted[:-1]).sum())
            what = (
                f"{duplicates} duplicate edges" if duplicates else "edges not sorted by (row, col)"
            )
            self.warn("edge_index", f"not coalesced: {what}")

    def check_boundary(self, num_nodes: int) -> None:
        self.orphan("boundary_names", "boundary")
        if not self.has("boundary"):
            return
        boundary = self.tensor("boundary", self.data.boundary, "[N]", floating=False)
        if boundary.shape != (num_nodes,):
            self.fail(
                "boundary",
                "expected a tensor of shape [N] with N = "
                f"{num_nodes} nodes (got {_shape(boundary)})",
            )
        low, high = int(boundary.min()), int(boundary.max())
        if low < 0:
            self.fail("boundary", f"expected group ids >= 0 (got {low})")
        if self.has("boundary_names"):
            names = self.data.boundary_names
            self.names("boundary_names", len(names), "G", "group")
            if not names or names[0] != "interior":
                self.fail(
                    "boundary_names",
                    f"expected 'interior' as the name of group 0 (got {list(names)})",
                )
            if high >= len(names):
                self.fail(
                    "boundary",
                    f"expected group ids in [0, {len(names)}) for the {len(names)} boundary_names "
                    f"(got ids up to {high})",
                )

    def check_fields(self, num_nodes: int) -> int | None:
        self.orphan("field_names", "fields")
        num_steps = None
        if self.has("fields"):
            fields = self.tensor("fields", self.data.fields, "[T, N, C]", floating=True)
            if fields.dim() != 3 or fields.shape[1] != num_nodes:
                self.fail(
                    "fields",
                    "expected a tensor of shape [T, N, C] with N "
                    f"= {num_nodes} nodes (got {_shape(fields)})",
                )
            num_steps = int(fields.shape[0])
            if self.has("field_names"):
                self.names("field_names", int(fields.shape[2]), "C", "channel of fields")
        return num_steps

    def check_cell_fields(self, num_steps: int | None) -> int | None:
        self.orphan("cell_field_names", "cell_fields")
        if not self.has("cell_fields"):
            return num_steps
        cell_fields = self.data.cell_fields
        if not isinstance(cell_fields, Mapping):
            self.fail(
                "cell_fields",
                "expected a dict of cell type -> [T, n_cells, "
                f"C] tensor (got {type(cell_fields).__name__})",
            )
        cells = self.data.cells if self.has("cells") else {}
        channels = None
        for cell_type, values in cell_fields.items():
            key = f"cell_fields[{cell_type!r}]"
            if cell_type not in cells:
                self.fail(key, f"expected a cell type present in cells (cells has {list(cells)})")
            n_cells = int(cells[cell_type].shape[0])
            values = self.tensor(key, values, "[T, n_cells, C]", floating=True)
            if values.dim() != 3 or values.shape[1] != n_cells:
                self.fail(
                    key,
                    f"expected a tensor of shape [T, n_cells, C] with n_cells = {n_cells} "
                    f"{cell_type} cells (got {_shape(values)})",
                )
            if num_steps is not None and values.shape[0] != num_steps:
                self.fail(
                    key, f"expected T = {num_steps} time steps as in fields (got {_shape(values)})"
                )
            num_steps = int(values.shape[0])
            if channels is not None and values.shape[2] != channels:
                self.fail(
                    key,
                    f"expected C = {channels} channels as the "
                    f"other cell types (got {_shape(values)})",
                )
            channels = int(values.shape[2])
        if self.has("cell_field_names") and channels is not None:
            self.names("cell_field_names", channels, "C_cell", "cell channel")
        return num_steps

    def check_times(self, num_steps: int | None) -> None:
        if not self.has("times"):
            return
        times = self.tensor("times", self.data.times, "[T]", floating=True)
        if num_steps is None:
            self.fail("times", "given without fields or cell_fields")
        if times.shape != (num_steps,):
            self.fail(
                "times",
                "expected a tensor of shape [T] with T = "
                f"{num_steps} steps of fields (got {_shape(times)})",
            )
        if num_steps > 1 and not bool((times[1:] > times[:-1]).all()):
            self.warn("times", "not strictly increasing")

    def check_cond(self) -> None:
        self.orphan("cond_names", "cond")
        if not self.has("cond"):
            return
        cond = self.tensor("cond", self.data.cond, "[K]", floating=True)
        if cond.dim() != 1:
            self.fail("cond", f"expected a tensor of shape [K] (got {_shape(cond)})")
        if self.has("cond_names"):
            self.names("cond_names", int(cond.shape[0]), "K", "condition")

    def check_grid_shape(self, num_nodes: int, dim: int) -> None:
        if not self.has("grid_shape"):
            return
        shape = self.data.grid_shape
        if isinstance(shape, Tensor):
            shape = shape.tolist()
        ok = isinstance(shape, Sequence) and all(isinstance(n, int) and n >= 1 for n in shape)
        if not ok or len(shape) != dim or math.prod(shape) != num_nodes:
            self.fail(
                "grid_shape",
                f"expected {dim} positive point counts whose "
                f"product is N = {num_nodes} (got {shape!r})",
            )

    def check_duplicate_points(self) -> None:
        pos = self.data.pos.detach().cpu().numpy()
        order = np.lexsort(pos.T[::-1])
        ordered = pos[order]
        same = np.all(ordered[1:] == ordered[:-1], axis=1)
        duplicates = int(same.sum())
        if duplicates:
            i = int(np.flatnonzero(same)[0])
            self.warn(
                "pos",
                f"{duplicates} duplicate points (e.g. nodes "
                f"{int(order[i])} and {int(order[i + 1])} "
                f"at {ordered[i].tolist()})",
            )


def validate(data: Data, *, source: str | None = None) -> list[str]:
    """Check every reserved key of a graph that is present.

    Checks dtypes and shapes, the node count ``N`` shared by ``pos``, ``boundary``, ``fields``
    and the cell indices, the time steps ``T`` shared by ``fields``, ``cell_fields`` and
    ``times``, the name lists against their data, finite values, index ranges and that
    ``edge_index`` is undirected. The keys are documented in :mod:`meshfield.data.keys`; other
    keys are not looked at. Meant for single graphs, not batches.

    Parameters
    ----------
    data : torch_geometric.data.Data
        The graph (usually a :class:`~meshfield.data.MeshGraph`).
    source : str, optional
        What the graph was made from, named in every message. default: none.

    Returns
    -------
    list of str
        Findings that do not make the graph wrong: duplicate points, nodes in no cell, self
        loops, an ``edge_index`` that is not coalesced, float64 coordinates, times that do not
        increase. Empty for a clean graph.

    Raises
    ------
    MeshValidationError
        On the first error, with a message naming the key, the expected shape and what was
        found, e.g. ``fields: expected a tensor of shape [T, N, C] with N = 1024 nodes (got
        [5, 1000, 3])``.

    Example
    -------
    >>> from meshfield.data import mesh_graph
    >>> g = mesh_graph([[0, 0], [1, 0], [0, 1]], {"triangle": [[0, 1, 2]]})
    >>> validate(g)
    []
    """
    checker = _Checker(data, source)
    num_nodes = checker.check_pos()
    dim = int(data.pos.shape[1])
    checker.check_z0(dim)
    checker.check_cells(num_nodes)
    checker.check_edge_index(num_nodes)
    checker.check_boundary(num_nodes)
    num_steps = checker.check_fields(num_nodes)
    num_steps = checker.check_cell_fields(num_steps)
    checker.check_times(num_steps)
    checker.check_cond()
    checker.check_grid_shape(num_nodes, dim)
    checker.check_duplicate_points()
    return checker.warnings
