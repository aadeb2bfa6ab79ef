"""The one place where what a reader found becomes a :class:`~meshfield.data.MeshGraph`.

Every reader (meshio, PyVista, trimesh, OpenFOAM) fills one :class:`RawMesh` per time step with
plain numpy arrays; :func:`build_graph` checks the steps against each other, names the field
channels after the convention of :mod:`meshfield.data.keys` and calls
:func:`meshfield.data.mesh_graph`. The writers use :func:`group_channels`, the inverse of
:func:`expand_array`, so that read -> write -> read gives the same channel names.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meshfield.errors import MeshValidationError

__all__ = [
    "RawMesh",
    "build_graph",
    "cell_type_dim",
    "expand_array",
    "group_channels",
    "merge_blocks",
]

#: Point-data arrays that readers add for their own bookkeeping; never physical fields.
_SKIPPED_PREFIXES = ("vtk", "gmsh:", "medit:")

_DIM = {"vertex": 0, "line": 1, "triangle": 2, "quad": 2}
_VOLUME = ("tetra", "hexahedron", "wedge", "pyramid")

_VECTOR_SUFFIXES = ("x", "y", "z")
_INDEXED = re.compile(r"^(.+)_(\d+)$")

#: Multi-component arrays with at least this many components are written as one array whose
#: channels are ``A_0, A_1, ...``; shorter runs of ``A_i`` are written as separate scalars
#: because an array with 2 or 3 components reads back as a vector (``A_x, A_y, ...``).
_MIN_INDEXED = 4


def cell_type_dim(cell_type: str) -> int:
    """Topological dimension of a meshio cell type (polygons are 2D, unknown types 3D)."""
    if cell_type in _DIM:
        return _DIM[cell_type]
    if cell_type.startswith("polygon"):
        return 2
    return 3


@dataclass
class RawMesh:
    """One time step of a mesh as a reader found it, in plain numpy arrays.

    Parameters
    ----------
    points
        Node coordinates. Shape ``[N, 2]`` or ``[N, 3]``.
    cells
        ``(meshio cell type, [n, k] int array)`` blocks, in file order.
    point_data
        Arrays with one row per node, ``[N]`` or ``[N, k]``, in file order.
    cell_data
        Arrays with one entry per block of ``cells``, each ``[n_b]`` or ``[n_b, k]``.
    boundary
        Boundary tag per node found in the file, or ``None`` to let
        :func:`~meshfield.data.mesh_graph` detect the boundary. default: ``None``
    boundary_names
        Group names for ``boundary``, ``boundary_names[0] == "interior"``. default: ``None``
    time
        The time of this step, if the file says. default: ``None``
    cond
        Global conditions stored in the file, name -> value. default: empty
    source
        What was read, for error messages. default: ``"<mesh>"``
    """

    points: np.ndarray
    cells: list[tuple[str, np.ndarray]]
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    cell_data: dict[str, list[np.ndarray]] = field(default_factory=dict)
    boundary: np.ndarray | None = None
    boundary_names: list[str] | None = None
    time: float | None = None
    cond: dict[str, float] = field(default_factory=dict)
    source: str = "<mesh>"


def merge_blocks(
    cells: Sequence[tuple[str, np.ndarray]],
    cell_data: Mapping[str, Sequence[np.ndarray]],
) -> tuple[list[tuple[str, np.ndarray]], dict[str, list[np.ndarray]]]:
    """Merge blocks of one cell type, in order of first appearance, with their cell data.

    Returns
    -------
    cells, cell_data
        One block per cell type, and each cell-data array split the same way.
    """
    order: dict[str, list[int]] = {}
    for i, (cell_type, _) in enumerate(cells):
        order.setdefault(cell_type, []).append(i)
    merged = [
        (cell_type, np.concatenate([np.asarray(cells[i][1]) for i in idx]))
        if len(idx) > 1
        else (cell_type, np.asarray(cells[idx[0]][1]))
        for cell_type, idx in order.items()
    ]
    data = {
        name: [
            np.concatenate([np.asarray(blocks[i]) for i in idx]) if len(idx) > 1 else blocks[idx[0]]
            for idx in order.values()
        ]
        for name, blocks in cell_data.items()
    }
    return merged, data


def expand_array(name: str, values: np.ndarray) -> list[str]:
    """Channel names of one array: ``U`` with 2 or 3 components is ``U_x, U_y(, U_z)``.

    Parameters
    ----------
    name
        The array's name in the file.
    values
        The array, one row per node or cell. Shape ``[n]`` or ``[n, k, ...]``.

    Returns
    -------
    list of str
        One name per channel; scalars keep their name, other multi-component arrays become
        ``A_0, A_1, ...``.
    """
    k = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
    if values.ndim == 1 or (values.ndim == 2 and k == 1):
        return [name]
    if values.ndim == 2 and k in (2, 3):
        return [f"{name}_{s}" for s in _VECTOR_SUFFIXES[:k]]
    return [f"{name}_{i}" for i in range(k)]


def group_channels(names: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Regroup channels into the arrays a file should hold, the inverse of :func:`expand_array`.

    Runs ``U_x, U_y(, U_z)`` become vector ``U``; runs ``A_0 ... A_{k-1}`` with ``k >= 4``
    become array ``A``; everything else is written as a scalar under its own name, so reading
    the file back gives ``names`` again.

    Parameters
    ----------
    names
        Channel names, in order.

    Returns
    -------
    list of (str, list of int)
        Array name and the channel indices it holds, in channel order.

    Raises
    ------
    MeshValidationError
        If two channels have the same name.
    """
    names = list(names)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        msg = f"Field names must be unique to be written (duplicated: {duplicates})"
        raise MeshValidationError(msg)
    groups: list[tuple[str, list[int]]] = []
    i = 0
    while i < len(names):
        run = _vector_run(names, i) or _indexed_run(names, i)
        if run is None:
            groups.append((names[i], [i]))
            i += 1
        else:
            groups.append(run)
            i += len(run[1])
    # a vector "U" next to a scalar named "U" would collide in the file: keep the vector split
    taken = [g[0] for g in groups]
    result: list[tuple[str, list[int]]] = []
    for array_name, idx in groups:
        if len(idx) > 1 and taken.count(array_name) > 1:
            result.extend((names[j], [j]) for j in idx)
        else:
            result.append((array_name, idx))
    return result


def _vector_run(names: list[str], i: int) -> tuple[str, list[int]] | None:
    if not names[i].endswith("_x") or len(names[i]) < 3:
        return None
    base = names[i][:-2]
    k = 1
    while k < 3 and i + k < len(names) and names[i + k] == f"{base}_{_VECTOR_SUFFIXES[k]}":
        k += 1
    return (base, list(range(i, i + k))) if k >= 2 else None


def _indexed_run(names: list[str], i: int) -> tuple[str, list[int]] | None:
    match = _INDEXED.match(names[i])
    if match is None or match.group(2) != "0":
        return None
    base = match.group(1)
    k = 1
    while i + k < len(names) and names[i + k] == f"{base}_{k}":
        k += 1
    return (base, list(range(i, i + k))) if k >= _MIN_INDEXED else None


def _selected(name: str, channels: list[str], wanted: set[str] | None) -> bool:
    return wanted is None or name in wanted or any(c in wanted for c in channels)


def _numeric(name: str, values: np.ndarray, where: str, source: str) -> bool:
    if values.dtype.kind in "biuf":
        return True
    warnings.warn(
        f"{source}: skipped {where} array {name!r} of non-numeric dtype {values.dtype}",
        stacklevel=4,
    )
    return False


def _point_channels(step: RawMesh, wanted: set[str] | None) -> tuple[list[str], list[np.ndarray]]:
    n = len(step.points)
    names: list[str] = []
    columns: list[np.ndarray] = []
    for name, values in step.point_data.items():
        if name.startswith(_SKIPPED_PREFIXES):
            continue
        values = np.asarray(values)
        if values.ndim == 0 or len(values) != n:
            found = "a scalar" if values.ndim == 0 else f"{len(values)} rows"
            msg = (
                f"{step.source}: point field {name!r} has {found}, expected one row per point "
                f"({n} points)"
            )
            raise MeshValidationError(msg)
        channels = expand_array(name, values)
        if not _selected(name, channels, wanted) or not _numeric(
            name, values, "point", step.source
        ):
            continue
        names.extend(channels)
        columns.append(values.reshape(n, -1).astype(np.float32, copy=False))
    return names, columns


def _cell_channels(
    step: RawMesh, wanted: set[str] | None
) -> tuple[list[str], dict[str, list[np.ndarray]]]:
    names: list[str] = []
    per_block: dict[str, list[np.ndarray]] = {t: [] for t, _ in step.cells}
    for name, blocks in step.cell_data.items():
        if name.startswith(_SKIPPED_PREFIXES):
            continue
        if len(blocks) != len(step.cells):
            msg = (
                f"{step.source}: cell field {name!r} has {len(blocks)} blocks, expected one per "
                f"cell block ({len(step.cells)})"
            )
            raise MeshValidationError(msg)
        arrays = [np.asarray(b) for b in blocks]
        for (cell_type, conn), values in zip(step.cells, arrays):
            if values.ndim == 0 or len(values) != len(conn):
                found = "a scalar" if values.ndim == 0 else f"{len(values)} rows"
                msg = (
                    f"{step.source}: cell field {name!r} has {found} on the {cell_type!r} "
                    f"cells, expected one row per cell ({len(conn)} cells)"
                )
                raise MeshValidationError(msg)
        channels = expand_array(name, arrays[0])
        if not _selected(name, channels, wanted):
            continue
        if not all(_numeric(name, a, "cell", step.source) for a in arrays[:1]):
            continue
        names.extend(channels)
        for (cell_type, conn), values in zip(step.cells, arrays):
            per_block[cell_type].append(
                values.reshape(len(conn), -1).astype(np.float32, copy=False)
            )
    return names, per_block


def _check_same_mesh(first: RawMesh, step: RawMesh) -> None:
    same = first.points.shape == step.points.shape and np.array_equal(first.points, step.points)
    same = same and [t for t, _ in first.cells] == [t for t, _ in step.cells]
    same = same and all(np.array_equal(a, b) for (_, a), (_, b) in zip(first.cells, step.cells))
    if not same:
        msg = (
            f"Time steps must share one mesh: {step.source} has different points or cells than "
            f"{first.source}"
        )
        raise MeshValidationError(msg)


def _check_content(step: RawMesh) -> None:
    points = step.points
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        msg = (
            f"{step.source}: expected points with shape [N, 2] or [N, 3] (got {list(points.shape)})"
        )
        raise MeshValidationError(msg)
    if len(points) == 0:
        msg = f"{step.source}: the mesh is empty (no points)"
        raise MeshValidationError(msg)
    if points.dtype.kind not in "iuf":
        msg = f"{step.source}: expected numeric point coordinates (got dtype {points.dtype})"
        raise MeshValidationError(msg)
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        msg = (
            f"{step.source}: {len(rows)} point(s) with NaN or infinite coordinates "
            f"(first: point {int(rows[0])} = {points[rows[0]].tolist()})"
        )
        raise MeshValidationError(msg)
    for cell_type, conn in step.cells:
        conn = np.asarray(conn)
        if conn.size and (conn.min() < 0 or conn.max() >= len(points)):
            worst = int(conn.min()) if conn.min() < 0 else int(conn.max())
            msg = (
                f"{step.source}: {cell_type!r} cells refer to node {worst} but the mesh has "
                f"{len(points)} points (cell indices out of range)"
            )
            raise MeshValidationError(msg)
    volume = [t for t, c in step.cells if t in _VOLUME and len(c)]
    if not volume:
        return
    planar = points.shape[1] == 2
    if not planar:
        z = points[:, 2]
        planar = bool(np.isfinite(z).all() and np.all(z == z[0]))
    if planar:
        msg = (
            f"{step.source}: mixed 2D/3D input: volume cells ({', '.join(volume)}) on planar "
            "points (2D coordinates or one constant z)"
        )
        raise MeshValidationError(msg)


def build_graph(
    steps: Sequence[RawMesh],
    *,
    fields: Sequence[str] | None = None,
    cell_to_point: bool = False,
    cond: Mapping[str, float] | None = None,
    times: Sequence[float] | None = None,
) -> Any:
    """Turn one or more time steps of one mesh into a :class:`~meshfield.data.MeshGraph`.

    Parameters
    ----------
    steps
        The time steps, each read into a :class:`RawMesh`; all must share points and cells.
    fields
        Keep only these arrays (file names such as ``"U"`` or channel names such as
        ``"U_x"``). default: ``None`` (all)
    cell_to_point
        Average cell data onto the nodes instead of keeping it on the cells. default: ``False``
    cond
        Global conditions, added to (and overriding) those stored in the file. default: ``None``
    times
        The time of each step, overriding the times stored in the file. default: ``None``

    Returns
    -------
    MeshGraph
        The graph; see :mod:`meshfield.data.keys` for its keys.
    """
    from meshfield.data import mesh_graph

    if not steps:
        msg = "No time steps to read (an empty list of files?)"
        raise MeshValidationError(msg)
    first = steps[0]
    _check_content(first)
    for step in steps[1:]:
        _check_same_mesh(first, step)

    wanted = None if fields is None else {str(f) for f in fields}
    point_names: list[str] | None = None
    point_steps: list[np.ndarray] = []
    cell_names: list[str] | None = None
    cell_steps: list[dict[str, list[np.ndarray]]] = []
    for step in steps:
        names, columns = _point_channels(step, wanted)
        c_names, c_blocks = _cell_channels(step, wanted)
        if point_names is None:
            point_names, cell_names = names, c_names
        elif names != point_names or c_names != cell_names:
            msg = (
                f"Time steps must hold the same fields: {step.source} has "
                f"{names + c_names}, {first.source} has {point_names + (cell_names or [])}"
            )
            raise MeshValidationError(msg)
        if columns:
            point_steps.append(np.concatenate(columns, axis=1))
        cell_steps.append(c_blocks)
    point_names = point_names or []
    cell_names = cell_names or []

    if wanted is not None:
        known = set(point_names) | set(cell_names)
        found_arrays = set(first.point_data) | set(first.cell_data)
        missing = sorted(w for w in wanted if w not in known and w not in found_arrays)
        if missing:
            all_points, _ = _point_channels(first, None)
            all_cells, _ = _cell_channels(first, None)
            available = sorted({*first.point_data, *first.cell_data, *all_points, *all_cells})
            available = [a for a in available if not a.startswith(_SKIPPED_PREFIXES)]
            msg = f"{first.source}: no field named {missing}; available: {available}"
            raise MeshValidationError(msg)

    kwargs: dict[str, Any] = {}
    if point_names:
        kwargs["fields"] = np.stack(point_steps)
        kwargs["field_names"] = point_names
    if cell_names:
        kwargs["cell_fields"] = {
            cell_type: np.stack([np.concatenate(s[cell_type], axis=1) for s in cell_steps])
            for cell_type, _ in first.cells
        }
        kwargs["cell_field_names"] = cell_names
        kwargs["cell_fields"] = _drop_unset_cell_blocks(kwargs["cell_fields"])

    step_times = times
    if not point_names and not cell_names and times is None:
        step_times = None  # times label the steps of fields; a mesh without fields has none
    elif step_times is None and all(s.time is not None for s in steps):
        step_times = [float(s.time) for s in steps]  # type: ignore[arg-type]
    if step_times is not None:
        step_times = np.asarray(step_times, dtype=np.float64).reshape(-1)
        if len(step_times) != len(steps):
            msg = f"{first.source}: got {len(step_times)} times for {len(steps)} time steps"
            raise MeshValidationError(msg)
        kwargs["times"] = step_times.astype(np.float32)

    conditions = dict(first.cond)
    conditions.update({str(k): float(v) for k, v in (cond or {}).items()})
    if conditions:
        kwargs["cond"] = np.asarray(list(conditions.values()), dtype=np.float32)
        kwargs["cond_names"] = list(conditions)

    return mesh_graph(
        first.points,
        [(t, np.asarray(c)) for t, c in first.cells],
        boundary=first.boundary,
        boundary_names=first.boundary_names,
        cell_to_point=cell_to_point,
        source=first.source,
        **kwargs,
    )


def _drop_unset_cell_blocks(cell_fields: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # meshfield's writers fill cell types that carry no cell data with NaN, because VTK files
    # need a value for every cell; those blocks carry no information and are left out again.
    kept = {t: v for t, v in cell_fields.items() if v.size == 0 or not np.isnan(v).all()}
    return kept or cell_fields
