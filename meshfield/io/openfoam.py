"""OpenFOAM cases as graphs, read with VTK's OpenFOAM reader (through PyVista).

The internal mesh gives the nodes and cells, the reader's point fields (interpolated from the
cell values, as the reader does) give ``fields`` over every time directory, and each boundary
patch becomes a boundary group: the nodes of patch ``g`` (in the order of
``constant/polyMesh/boundary``) get tag ``g``, the smallest tag winning on shared nodes.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.errors import MeshFileNotFoundError, MeshFormatError, MeshValidationError
from meshfield.io._pyvista import (
    _vtk_errors_raise,
    from_pyvista,
    import_pyvista,
    vtk_reason,
)
from meshfield.io._raw import RawMesh, build_graph

__all__ = ["is_openfoam_case", "is_planar_case", "read_openfoam", "read_planar"]

_INTERNAL = "internalMesh"


def is_openfoam_case(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an OpenFOAM case: a folder with ``system/controlDict``, or a
    ``.foam`` file inside one."""
    path = Path(path)
    if path.suffix == ".foam":
        return (path.parent / "system" / "controlDict").is_file()
    return path.is_dir() and (path / "system" / "controlDict").is_file()


def _reader_path(case: Path) -> Path:
    # VTK's reader takes a file inside the case; system/controlDict always exists, so no
    # marker file has to be created in the user's case
    return case if case.suffix == ".foam" else case / "system" / "controlDict"


def _patch_nodes(
    internal_points: np.ndarray, patch_points: np.ndarray, name: str, case: Path
) -> np.ndarray:
    from scipy.spatial import cKDTree

    if len(patch_points) == 0:
        return np.zeros(0, dtype=np.int64)
    # patch points are copies of mesh points (same values from the same points file)
    scale = float(np.abs(internal_points).max()) if len(internal_points) else 1.0
    distance, index = cKDTree(internal_points).query(patch_points)
    if np.any(distance > 1e-9 * max(scale, 1.0)):
        msg = f"{case}: points of patch {name!r} do not match points of the internal mesh"
        raise MeshFormatError(msg)
    return np.unique(index).astype(np.int64)


def read_openfoam_steps(
    case: str | os.PathLike[str], *, cell_to_point: bool = False
) -> list[RawMesh]:
    """Read every time step of an OpenFOAM case into :class:`RawMesh` objects.

    Parameters
    ----------
    case
        The case folder (with ``system/controlDict``) or a ``.foam`` file in it.
    cell_to_point
        Drop the cell values and keep only the reader's point fields. default: ``False``
    """
    pv = import_pyvista()
    case = Path(case)
    if not case.exists():
        msg = f"OpenFOAM case not found: {case}"
        raise MeshFileNotFoundError(msg)
    if not is_openfoam_case(case):
        msg = f"{case} is not an OpenFOAM case (no system/controlDict)"
        raise MeshFormatError(msg)
    try:
        with _vtk_errors_raise(pv):
            reader = pv.OpenFOAMReader(str(_reader_path(case)))
            reader.enable_all_patch_arrays()
            if hasattr(reader, "decompose_polyhedra"):
                reader.decompose_polyhedra = True
            reader.cell_to_point_creation = True
            time_values = list(reader.time_values) or [None]
            outputs = []
            for time in time_values:
                if time is not None:
                    reader.set_active_time_value(time)
                outputs.append(reader.read())
    except Exception as exc:  # any VTK failure means the case is unreadable
        msg = f"Could not read OpenFOAM case {case}: {vtk_reason(exc)}"
        raise MeshFormatError(msg) from exc

    steps = []
    for time, blocks in zip(time_values, outputs):
        names = list(blocks.keys())
        if _INTERNAL not in names or blocks[_INTERNAL] is None:
            msg = f"{case}: the reader found no internal mesh (is constant/polyMesh complete?)"
            raise MeshValidationError(msg)
        internal = blocks[_INTERNAL]
        raw = from_pyvista(internal, source=f"{case} (t={time})")
        if cell_to_point:
            raw.cell_data = {}
        raw.time = None if time is None else float(time)
        patches = blocks["boundary"] if "boundary" in names else None
        if patches is not None and len(patches) and not steps:
            points = np.asarray(internal.points)
            names = ["interior"]
            boundary = np.zeros(len(points), dtype=np.int64)
            members = []
            for index, name in enumerate(patches.keys()):
                patch = patches[index]
                nodes = (
                    np.zeros(0, dtype=np.int64)
                    if patch is None
                    else _patch_nodes(points, np.asarray(patch.points), name, case)
                )
                names.append(str(name))
                members.append(nodes)
            for group in range(len(members), 0, -1):  # smallest id wins
                boundary[members[group - 1]] = group
            raw.boundary, raw.boundary_names = boundary, names
        elif steps:
            raw.boundary, raw.boundary_names = steps[0].boundary, steps[0].boundary_names
        steps.append(raw)
    return steps


def read_openfoam(
    case: str | os.PathLike[str],
    *,
    fields: Sequence[str] | None = None,
    cell_to_point: bool = False,
    cond: Mapping[str, float] | None = None,
    times: Sequence[float] | None = None,
) -> Any:
    """Read an OpenFOAM case (all time directories) as a :class:`~meshfield.data.MeshGraph`.

    Parameters
    ----------
    case
        The case folder (with ``system/controlDict``) or a ``.foam`` file in it.
    fields
        Keep only these fields (``"U"``, ``"p"``, or channels such as ``"U_x"``).
        default: ``None`` (all)
    cell_to_point
        Keep only the reader's point fields and no cell values. default: ``False`` (the cell
        values are kept in ``cell_fields`` as well)
    cond
        Global conditions, e.g. ``{"Re": 100.0}``. default: ``None``
    times
        The time of each step, overriding the time directory names. default: ``None``

    Returns
    -------
    MeshGraph
        ``fields [T, N, C]`` over the ``T`` time directories, ``times [T]``, ``boundary`` tags
        from the patches and ``boundary_names = ["interior", *patches]``.

    Example
    -------
    >>> import meshfield
    >>> data = meshfield.io.read_openfoam("cavity")  # doctest: +SKIP
    >>> data.boundary_names  # doctest: +SKIP
    ['interior', 'movingWall', 'fixedWalls', 'frontAndBack']
    """
    steps = read_openfoam_steps(case, cell_to_point=cell_to_point)
    return build_graph(steps, fields=fields, cell_to_point=False, cond=cond, times=times)


def is_planar_case(path: str | os.PathLike[str]) -> bool:
    """Whether an OpenFOAM case is 2D: one of its patches is of type ``empty``."""
    boundary = Path(path) / "constant" / "polyMesh" / "boundary"
    if not boundary.is_file():
        return False
    return re.search(r"^\s*type\s+empty\s*;", boundary.read_text(), re.MULTILINE) is not None


def _planar_cells(grid: Any, low: np.ndarray) -> list[np.ndarray]:
    """The back-face polygon of every cell, as lists of point ids in counter-clockwise order."""
    offsets = np.asarray(grid.cell_offsets if hasattr(grid, "cell_offsets") else grid.offset)
    connectivity = np.asarray(grid.cell_connectivity)
    points = np.asarray(grid.points)
    polygons = []
    for start, stop in itertools.pairwise(offsets):
        ids = np.unique(connectivity[start:stop])
        polygons.append(ids[low[ids]])
    counts = np.array([len(p) for p in polygons])
    if counts.min(initial=3) < 3:
        bad = int(np.flatnonzero(counts < 3)[0])
        msg = (
            f"cell {bad} has {counts[bad]} points on the back face; expected a one-cell-thick "
            "mesh extruded in z (every cell spans the thickness)"
        )
        raise MeshFormatError(msg)
    # sort each polygon's points by angle around its centroid: counter-clockwise
    ordered = []
    for count in np.unique(counts):
        which = np.flatnonzero(counts == count)
        ids = np.stack([polygons[i] for i in which])
        xy = points[ids, :2]
        angle = np.arctan2(*(xy - xy.mean(axis=1, keepdims=True)).transpose(2, 0, 1)[::-1])
        ids = np.take_along_axis(ids, np.argsort(angle, axis=1, kind="stable"), axis=1)
        ordered += list(zip(which, ids))
    ordered.sort(key=lambda item: item[0])
    return [ids for _, ids in ordered]


def _triangulate(polygons: list[np.ndarray]) -> np.ndarray:
    triangles = []
    for ids in polygons:
        for k in range(1, len(ids) - 1):
            triangles.append((ids[0], ids[k], ids[k + 1]))
    return np.asarray(triangles, dtype=np.int64)


def read_planar(
    case: str | os.PathLike[str],
    *,
    fields: Sequence[str] | None = ("U", "p"),
    time_range: tuple[float, float] | None = None,
    patches: Sequence[str] | Mapping[str, str] | None = None,
    cond: Mapping[str, float] | None = None,
    times: Sequence[float] | None = None,
    triangulate: bool = True,
) -> Any:
    """Read a one-cell-thick OpenFOAM case as a 2D :class:`~meshfield.data.MeshGraph`.

    The nodes are the mesh points on the back face (smallest z), in ascending OpenFOAM point
    order, so all time steps, and all runs on the same mesh, share one node order. Every cell
    spans the thickness, so the mid-plane section has the same topology, and the point values
    of VTK's reader (averages of the cells around a point, with patch values on boundary points)
    are the same on both faces. Each cell's back face becomes triangles (or is kept as a
    polygon with ``triangulate=False``), counter-clockwise.

    Parameters
    ----------
    case : path-like
        The case folder.
    fields : sequence of str or None, default: ("U", "p")
        Fields to read; vectors keep their x and y components (``U_x``, ``U_y``). ``None``:
        every point field of the case (none for a bare mesh).
    time_range : (float, float), optional
        Keep the time folders with ``lo <= t <= hi`` (a tolerance of 1e-9 relative).
        default: every time folder except ``0`` (or only ``0`` when it is the only one).
    patches : sequence of str or mapping, optional
        Patches that become boundary groups ``1, 2, ...`` in this order (the smallest id wins on
        shared nodes); a mapping renames them (patch -> group name). default: every patch
        that is not ``empty``, in the order of ``constant/polyMesh/boundary``.
    cond : mapping, optional
        Conditions stored in ``cond`` / ``cond_names``.
    times : sequence of float, optional
        Times stored in ``times``, one per chosen time folder (e.g. ``[0.0]`` for a steady
        result). default: the folders' times.
    triangulate : bool, default: True
        Split the faces into triangles; otherwise keep triangles, quads and ``polygonK``.

    Returns
    -------
    MeshGraph
        ``pos [N, 2]``, ``cells``, ``boundary`` / ``boundary_names`` (``"interior"`` and the
        patches), ``fields [T, N, C]``, ``field_names``, ``times [T]`` and ``cond``.

    Raises
    ------
    MeshFormatError
        The case cannot be read, a field or patch is missing, or the mesh is not one cell
        thick.
    """
    from scipy.spatial import cKDTree

    from meshfield.data import mesh_graph
    from meshfield.io._pyvista import import_pyvista

    pv = import_pyvista()
    case = Path(case)
    if not (case / "constant" / "polyMesh" / "boundary").is_file():
        msg = f"{case}: no mesh to read (constant/polyMesh/boundary is missing)"
        raise MeshFormatError(msg)
    marker = case / f"{case.name}.foam"
    marker.touch()
    try:
        reader = pv.OpenFOAMReader(str(marker))
        reader.enable_all_patch_arrays()
        reader.cell_to_point_creation = True
        if hasattr(reader, "decompose_polyhedra"):
            reader.decompose_polyhedra = False
        if hasattr(reader, "skip_zero_time"):
            reader.skip_zero_time = False
        all_times = [float(t) for t in reader.time_values]
    except (AttributeError, RuntimeError, ValueError) as exc:
        msg = f"{case}: VTK's OpenFOAM reader failed: {type(exc).__name__}: {exc}"
        raise MeshFormatError(msg) from exc
    if time_range is None:
        chosen = [t for t in all_times if t != 0.0] or all_times
    else:
        lo, hi = time_range
        tol = 1e-9 * max(1.0, abs(hi))
        chosen = [t for t in all_times if lo - tol <= t <= hi + tol]
    if not chosen:
        msg = f"{case}: no time folder in {time_range} (found {all_times})"
        raise MeshFormatError(msg)

    reader.set_active_time_value(chosen[0])
    blocks = reader.read()
    internal = blocks["internalMesh"]
    points = np.asarray(internal.points, dtype=np.float64)
    z = points[:, 2]
    z_lo, z_hi = float(z.min()), float(z.max())
    if z_hi - z_lo <= 0:
        msg = f"{case}: the mesh is flat in z; expected one cell thickness"
        raise MeshFormatError(msg)
    low = z < 0.5 * (z_lo + z_hi)
    polygons = _planar_cells(internal, low)
    nodes = np.flatnonzero(low)
    index = np.full(len(points), -1, dtype=np.int64)
    index[nodes] = np.arange(len(nodes))
    polygons = [index[p] for p in polygons]
    if triangulate:
        cells: dict[str, np.ndarray] = {"triangle": _triangulate(polygons)}
    else:
        cells = {}
        for ids in polygons:
            key = {3: "triangle", 4: "quad"}.get(len(ids), f"polygon{len(ids)}")
            cells.setdefault(key, []).append(ids)
        cells = {k: np.stack(v) for k, v in cells.items()}
    pos = points[nodes, :2]

    # boundary groups from the patches
    boundary_blocks = blocks.get("boundary", None)
    available = {}
    if boundary_blocks is not None:
        # iterating a MultiBlock yields its blocks, not their names
        names = boundary_blocks.keys()
        available = {str(name): boundary_blocks[name] for name in names}
    if patches is None:
        patches = [name for name, patch in available.items() if patch is not None and patch.n_cells]
        patches = [p for p in patches if _patch_type(case, p) != "empty"]
    group_names = dict(patches) if isinstance(patches, Mapping) else {p: p for p in patches}
    patches = list(group_names)
    missing = [p for p in patches if p not in available]
    if missing:
        msg = f"{case}: patches {missing} not found (the mesh has {sorted(available)})"
        raise MeshFormatError(msg)
    tree = cKDTree(pos)
    scale = max(float(np.abs(pos).max()), 1.0)
    members = []
    for name in patches:
        patch_points = np.asarray(available[name].points, dtype=np.float64)
        patch_points = patch_points[patch_points[:, 2] < 0.5 * (z_lo + z_hi)]
        distance, nearest = tree.query(patch_points[:, :2])
        if len(distance) and distance.max() > 1e-7 * scale:
            msg = f"{case}: points of patch {name!r} are not mesh points"
            raise MeshFormatError(msg)
        members.append(np.unique(nearest))
    boundary = np.zeros(len(pos), dtype=np.int64)
    for group in range(len(members), 0, -1):
        boundary[members[group - 1]] = group

    # point values over time
    if fields is None:
        fields = [str(name) for name in internal.point_data.keys() if not str(name).startswith("vtk")]
    series: dict[str, list[np.ndarray]] = {name: [] for name in fields}
    for step, time in enumerate(chosen):
        if step:
            reader.set_active_time_value(time)
            internal = reader.read()["internalMesh"]
        for name in fields:
            if name not in internal.point_data:
                msg = (
                    f"{case}: field {name!r} not found at t={time:g} "
                    f"(found {list(internal.point_data.keys())})"
                )
                raise MeshFormatError(msg)
            values = np.asarray(internal.point_data[name], dtype=np.float64)[nodes]
            series[name].append(values[:, :2] if values.ndim == 2 else values[:, None])
    data = {name: np.stack(values) for name, values in series.items()} or None
    return mesh_graph(
        pos,
        cells,
        boundary=boundary,
        boundary_names=["interior", *(group_names[p] for p in patches)],
        fields=data,
        times=None if data is None else np.asarray(chosen if times is None else times, dtype=np.float64),
        cond=dict(cond) if cond else None,
        source=str(case),
    )


def _patch_type(case: Path, patch: str) -> str:
    """The ``type`` of a patch in ``constant/polyMesh/boundary`` (``""`` when not found)."""
    path = case / "constant" / "polyMesh" / "boundary"
    if not path.is_file():
        return ""
    block = re.search(rf"^\s*{re.escape(patch)}\s*\{{([^}}]*)\}}", path.read_text(), re.MULTILINE)
    if block is None:
        return ""
    found = re.search(r"^\s*type\s+(\w+)\s*;", block.group(1), re.MULTILINE)
    return found.group(1) if found else ""


# ---------------------------------------------------------------------------------------------
# meshes
# ---------------------------------------------------------------------------------------------
