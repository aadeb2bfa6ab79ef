"""meshio <-> meshfield: reading any file meshio reads, and :func:`to_meshio`.

Boundary groups come from the file when it has them: gmsh physical groups on the
lower-dimensional elements (``cell_data["gmsh:physical"]`` with names in ``field_data``), or the
``boundary`` point array and the metadata meshfield stores beside the XDMF files it writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.errors import MeshFormatError, MeshValidationError
from meshfield.io._raw import RawMesh, cell_type_dim

__all__ = ["from_meshio", "meshio_formats", "read_meshio_file", "write_xdmf_metadata"]

#: Group in the HDF5 file beside a written XDMF file that holds what XDMF cannot.
METADATA_GROUP = "meshfield"

#: Tried first where meshio knows several formats for one suffix (``.msh``: gmsh or ANSYS).
_PREFERRED = ("gmsh",)


def meshio_formats() -> dict[str, list[str]]:
    """meshio's readers by suffix, e.g. ``{".msh": ["gmsh", "ansys"], ...}``."""
    import meshio

    formats = {}
    for suffix, names in meshio.extension_to_filetypes.items():
        formats[suffix] = sorted(names, key=lambda n: (n not in _PREFERRED, n))
    return formats


def _reader(format_name: str) -> Any:
    import meshio

    # meshio.read() reports failures by printing and exiting; the per-format modules raise.
    module = getattr(meshio, format_name.split("-")[0])
    return module.read


def read_meshio_file(path: Path, format_names: list[str]) -> RawMesh:
    """Read ``path`` with meshio's reader for each of ``format_names`` until one succeeds.

    Raises
    ------
    MeshFormatError
        If no reader can read the file; the last reader's exception is the cause.
    """
    last: Exception | None = None
    for format_name in format_names:
        try:
            mesh = _reader(format_name)(str(path))
        except Exception as exc:  # noqa: BLE001 - any reader failure means "not this format"
            last = exc
            continue
        raw = from_meshio(mesh, source=str(path))
        if format_name == "xdmf":
            _apply_xdmf_metadata(raw, path)
        return raw
    tried = " or ".join(format_names)
    msg = f"Could not read {path} as {tried}: {type(last).__name__}: {last}"
    raise MeshFormatError(msg) from last


def from_meshio(mesh: Any, *, source: str = "<meshio.Mesh>") -> RawMesh:
    """Convert a :class:`meshio.Mesh` into a :class:`RawMesh` (one time step)."""
    points = np.asarray(mesh.points)
    cells = [(block.type, np.asarray(block.data)) for block in mesh.cells]
    cell_data = {name: list(blocks) for name, blocks in mesh.cell_data.items()}
    point_data = dict(mesh.point_data)
    raw = RawMesh(
        points=points,
        cells=cells,
        point_data=point_data,
        cell_data=cell_data,
        source=source,
    )
    physical = mesh.cell_data.get("gmsh:physical")
    if physical is not None:
        found = _gmsh_boundary(cells, physical, dict(mesh.field_data), len(points), source)
        if found is not None:
            raw.boundary, raw.boundary_names = found
    return raw


def _gmsh_boundary(
    cells: list[tuple[str, np.ndarray]],
    physical: list[np.ndarray],
    field_data: dict[str, Any],
    n_points: int,
    source: str,
) -> tuple[np.ndarray, list[str]] | None:
    dims = [cell_type_dim(t) for t, _ in cells]
    if not dims:
        return None
    top = max(dims)
    # (dim, tag) -> nodes; gmsh numbers physical groups per dimension
    members: dict[tuple[int, int], list[np.ndarray]] = {}
    for (cell_type, conn), tags, dim in zip(cells, physical, dims):
        if dim >= top or len(conn) == 0:
            continue
        tags = np.asarray(tags).reshape(-1)
        for tag in np.unique(tags):
            if tag <= 0:
                continue  # elements outside any physical group
            members.setdefault((dim, int(tag)), []).append(conn[tags == tag].reshape(-1))
    if not members:
        return None
    names_by_key = {}
    for name, value in field_data.items():
        value = np.asarray(value).reshape(-1)
        if value.size >= 2:
            names_by_key[(int(value[1]), int(value[0]))] = str(name)
    keys = sorted(members, key=lambda k: (k[1], k[0]))
    names = ["interior"]
    for dim, tag in keys:
        names.append(names_by_key.get((dim, tag), f"physical_{tag}"))
    if len(set(names)) != len(names):
        # the same name on groups of different dimension: make them distinguishable
        names = ["interior"] + [f"{n}_{d}d" for n, (d, _) in zip(names[1:], keys)]
    boundary = np.zeros(n_points, dtype=np.int64)
    for group in range(len(keys), 0, -1):  # descending, so the smallest id wins
        nodes = np.unique(np.concatenate(members[keys[group - 1]]))
        if len(nodes) and (nodes.min() < 0 or nodes.max() >= n_points):
            msg = (
                f"{source}: boundary group {names[group]!r} refers to node {int(nodes.max())} "
                f"but the mesh has {n_points} points (cell indices out of range)"
            )
            raise MeshValidationError(msg)
        boundary[nodes] = group
    return boundary, names


def _apply_xdmf_metadata(raw: RawMesh, path: Path) -> None:
    h5_path = path.with_suffix(".h5")
    if not h5_path.is_file():
        return
    import h5py

    with h5py.File(h5_path, "r") as h5:
        if METADATA_GROUP not in h5:
            return
        group = h5[METADATA_GROUP]
        names = [
            n.decode() if isinstance(n, bytes) else str(n) for n in group["boundary_names"][()]
        ]
        if "boundary" in raw.point_data:
            raw.boundary = np.asarray(raw.point_data.pop("boundary"), dtype=np.int64)
            raw.boundary_names = names
        if "cond" in group:
            cond_names = [
                n.decode() if isinstance(n, bytes) else str(n) for n in group["cond_names"][()]
            ]
            raw.cond = dict(zip(cond_names, np.asarray(group["cond"][()]).tolist()))
        if "time" in group:
            raw.time = float(np.asarray(group["time"][()]).reshape(-1)[0])


def write_xdmf_metadata(h5_path: str | os.PathLike[str], meta: dict[str, Any]) -> None:
    """Store boundary names, conditions and time in the HDF5 file of an XDMF file."""
    import h5py

    strings = h5py.string_dtype()
    with h5py.File(h5_path, "a") as h5:
        group = h5.require_group(METADATA_GROUP)
        group.create_dataset(
            "boundary_names", data=np.array(meta["boundary_names"], dtype=object), dtype=strings
        )
        if meta.get("cond_names"):
            group.create_dataset("cond", data=np.asarray(meta["cond"], dtype=np.float32))
            group.create_dataset(
                "cond_names", data=np.array(meta["cond_names"], dtype=object), dtype=strings
            )
        if meta.get("time") is not None:
            group.create_dataset("time", data=np.asarray([meta["time"]], dtype=np.float32))
