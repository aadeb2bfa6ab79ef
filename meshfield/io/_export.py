"""One time step of a graph as the numpy arrays every writer needs.

The writers (PyVista/VTK, meshio) share this so that every format stores the same thing:
3D points (planar meshes at ``z = z0`` or 0), one cell block per cell type in the graph's order,
vector channels regrouped into vector arrays, the boundary tags as the point array
``"boundary"``, and the names and conditions the file format can carry as metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meshfield.errors import MeshValidationError
from meshfield.io._raw import group_channels

__all__ = ["BOUNDARY_ARRAY", "ExportArrays", "export_arrays", "num_steps"]

#: Name of the point array that holds the boundary tag of every node.
BOUNDARY_ARRAY = "boundary"


@dataclass
class ExportArrays:
    """What a writer puts in a file for one time step (see :func:`export_arrays`)."""

    points: np.ndarray
    cells: list[tuple[str, np.ndarray]]
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    cell_data: dict[str, list[np.ndarray]] = field(default_factory=dict)
    boundary_names: list[str] = field(default_factory=lambda: ["interior"])
    cond: np.ndarray | None = None
    cond_names: list[str] = field(default_factory=list)
    time: float | None = None


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def num_steps(data: Any) -> int:
    """Number of time steps in ``fields`` / ``cell_fields`` (1 for a graph without them)."""
    if "fields" in data and data.fields is not None:
        return int(data.fields.shape[0])
    cell_fields = getattr(data, "cell_fields", None) or {}
    for values in cell_fields.values():
        return int(values.shape[0])
    if "times" in data and data.times is not None:
        return max(len(data.times), 1)
    return 1


def _step_index(data: Any, step: int | None) -> int:
    total = num_steps(data)
    index = total - 1 if step is None else int(step)
    if not -total <= index < total:
        msg = f"step={step} is out of range for a graph with {total} time step(s)"
        raise IndexError(msg)
    return index % total


def export_arrays(data: Any, *, step: int | None = None) -> ExportArrays:
    """Collect one time step of ``data`` as numpy arrays for a writer.

    Parameters
    ----------
    data
        A :class:`~meshfield.data.MeshGraph`.
    step
        Time step to export. default: ``None`` (the last)

    Returns
    -------
    ExportArrays
        Points ``[N, 3]``, cells, point data, cell data and metadata.
    """
    index = _step_index(data, step)
    pos = _numpy(data.pos)
    if pos.ndim != 2 or pos.shape[1] not in (2, 3):
        msg = f"Expected 'pos' with shape [N, 2] or [N, 3] (got {list(pos.shape)})"
        raise MeshValidationError(msg)
    if pos.shape[1] == 2:
        z0 = getattr(data, "z0", None)
        z = np.full((len(pos), 1), 0.0 if z0 is None else float(z0), dtype=pos.dtype)
        points = np.concatenate([pos, z], axis=1)
    else:
        points = np.ascontiguousarray(pos)

    cells_dict = getattr(data, "cells", None) or {}
    cells = [(str(t), _numpy(c).astype(np.int64, copy=False)) for t, c in cells_dict.items()]
    out = ExportArrays(points=points, cells=cells)

    if "fields" in data and data.fields is not None:
        values = _numpy(data.fields)[index]
        for name, idx in group_channels(list(data.field_names)):
            column = values[:, idx]
            out.point_data[name] = column[:, 0].copy() if len(idx) == 1 else column.copy()

    cell_fields = getattr(data, "cell_fields", None) or {}
    if cell_fields:
        names = list(data.cell_field_names)
        width = len(names)
        blocks = []
        for cell_type, conn in cells:
            if cell_type in cell_fields:
                blocks.append(_numpy(cell_fields[cell_type])[index])
            else:
                blocks.append(np.full((len(conn), width), np.nan, dtype=np.float32))
        for name, idx in group_channels(names):
            out.cell_data[name] = [
                b[:, idx[0]].copy() if len(idx) == 1 else b[:, idx].copy() for b in blocks
            ]

    boundary = getattr(data, "boundary", None)
    if boundary is not None:
        if BOUNDARY_ARRAY in out.point_data:
            msg = (
                f"A field named {BOUNDARY_ARRAY!r} clashes with the boundary tags written under "
                "that name; rename the field"
            )
            raise MeshValidationError(msg)
        out.point_data[BOUNDARY_ARRAY] = _numpy(boundary).astype(np.int64, copy=False)
    names = getattr(data, "boundary_names", None)
    if names:
        out.boundary_names = [str(n) for n in names]
    if "cond" in data and data.cond is not None:
        out.cond = _numpy(data.cond).reshape(-1)
        out.cond_names = [str(n) for n in data.cond_names]
    if "times" in data and data.times is not None and len(data.times) > index:
        out.time = float(_numpy(data.times)[index])
    return out
