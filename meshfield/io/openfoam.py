"""OpenFOAM cases as graphs, read with VTK's OpenFOAM reader (through PyVista).

The internal mesh gives the nodes and cells, the reader's point fields (interpolated from the
cell values, as the reader does) give ``fields`` over every time directory, and each boundary
patch becomes a boundary group: the nodes of patch ``g`` (in the order of
``constant/polyMesh/boundary``) get tag ``g``, the smallest tag winning on shared nodes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.errors import MeshFileNotFoundError, MeshFormatError, MeshValidationError
from meshfield.io._pyvista import _vtk_errors_raise, from_pyvista, import_pyvista
from meshfield.io._raw import RawMesh, build_graph

__all__ = ["is_openfoam_case", "read_openfoam"]

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
        msg = f"Could not read OpenFOAM case {case}: {type(exc).__name__}: {str(exc).strip()[:500]}"
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
