"""Writing graphs: ``save`` to a file ParaView and PyVista open (atomically), and the
conversions to the objects of those libraries, ``to_pyvista`` and ``to_meshio``."""

from __future__ import annotations

import os
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from meshfield._files import atomic_files, atomic_path
from meshfield.errors import MeshFormatError, MeshValidationError
from meshfield.io._export import export_arrays, num_steps

__all__ = ["WRITE_SUFFIXES", "save", "to_meshio", "to_pyvista"]

#: The formats :func:`save` writes.
WRITE_SUFFIXES = (".vtu", ".vtk", ".xdmf", ".pvd")


def to_pyvista(data: Any, *, step: int | None = None) -> Any:
    """One time step of a graph as a ``pyvista.UnstructuredGrid``.

    Channels are regrouped into arrays (``U_x, U_y`` -> vector ``U``), the boundary tags are the
    point array ``"boundary"``, and the boundary names, conditions and the step's time are field
    data (``"boundary_names"``, ``"cond"``, ``"cond_names"``, ``"TimeValue"``), so that
    :func:`meshfield.load_mesh` reads the same graph back. Planar meshes get ``z = z0`` (or 0).

    Parameters
    ----------
    data
        A :class:`~meshfield.data.MeshGraph`.
    step
        The time step of ``fields`` and ``cell_fields`` to put on the grid. default: ``None``
        (the last)

    Returns
    -------
    pyvista.UnstructuredGrid
        ``N`` points, one VTK cell per cell of ``data.cells``, in block order.

    Example
    -------
    >>> import meshfield
    >>> grid = meshfield.to_pyvista(meshfield.load_mesh("cavity.msh"))  # doctest: +SKIP
    """
    from meshfield.io._pyvista import (
        _TO_VTK,
        _VTK_POLYGON,
        BOUNDARY_NAMES,
        COND,
        COND_NAMES,
        TIME_VALUE,
        import_pyvista,
    )

    pv = import_pyvista()
    arrays = export_arrays(data, step=step)
    flat, types = [], []
    for cell_type, conn in arrays.cells:
        if cell_type in _TO_VTK:
            vtk_type = _TO_VTK[cell_type]
        elif cell_type.startswith("polygon"):
            vtk_type = _VTK_POLYGON
        else:
            msg = f"Cannot write cell type {cell_type!r} to VTK"
            raise MeshValidationError(msg)
        n, k = conn.shape
        flat.append(np.concatenate([np.full((n, 1), k, dtype=np.int64), conn], axis=1).reshape(-1))
        types.append(np.full(n, vtk_type, dtype=np.uint8))
    cells = np.concatenate(flat) if flat else np.zeros(0, dtype=np.int64)
    celltypes = np.concatenate(types) if types else np.zeros(0, dtype=np.uint8)
    grid = pv.UnstructuredGrid(cells, celltypes, arrays.points)
    for name, values in arrays.point_data.items():
        grid.point_data[name] = values
    for name, blocks in arrays.cell_data.items():
        grid.cell_data[name] = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    grid.field_data[BOUNDARY_NAMES] = np.array(arrays.boundary_names, dtype=str)
    if arrays.cond is not None and arrays.cond_names:
        grid.field_data[COND] = arrays.cond
        grid.field_data[COND_NAMES] = np.array(arrays.cond_names, dtype=str)
    if arrays.time is not None:
        grid.field_data[TIME_VALUE] = np.array([arrays.time], dtype=np.float32)
    return grid


def to_meshio(data: Any, *, step: int | None = None) -> Any:
    """One time step of a graph as a :class:`meshio.Mesh`.

    Vector channels (``U_x, U_y``) are regrouped into vector arrays, the boundary tags are the
    point array ``"boundary"``, planar meshes get ``z = z0`` (or 0), and cell types without
    cell data are filled with NaN.

    Parameters
    ----------
    data
        A :class:`~meshfield.data.MeshGraph`.
    step
        Which time step of ``fields`` / ``cell_fields`` to write. default: ``None`` (the last)

    Returns
    -------
    meshio.Mesh
        Points ``[N, 3]``, one cell block per cell type, point and cell data.
    """
    import meshio

    arrays = export_arrays(data, step=step)
    return meshio.Mesh(
        arrays.points,
        list(arrays.cells),
        point_data=dict(arrays.point_data),
        cell_data={name: list(blocks) for name, blocks in arrays.cell_data.items()},
    )


def _write_vtk(data: Any, path: Path, step: int | None) -> None:
    grid = to_pyvista(data, step=step)
    # the temporary keeps the suffix: VTK picks the writer by it
    with atomic_path(path, suffix=path.suffix) as tmp:
        # legacy .vtk in binary: the ASCII writer rounds floats
        grid.save(tmp, binary=True)


#: Components an XDMF attribute may have (scalar, vector, symmetric and full tensor).
_XDMF_COMPONENTS = (1, 2, 3, 6, 9)


def _xdmf_attributes(arrays: dict[str, Any]) -> dict[str, Any]:
    """Split arrays XDMF cannot hold into their channels ``A_0, A_1, ...`` (read back alike)."""
    out: dict[str, Any] = {}
    for name, value in arrays.items():
        first = value[0] if isinstance(value, list) else value
        k = 1 if first.ndim == 1 else first.shape[1]
        if k in _XDMF_COMPONENTS:
            out[name] = value
            continue
        for i in range(k):
            if isinstance(value, list):
                out[f"{name}_{i}"] = [block[:, i] for block in value]
            else:
                out[f"{name}_{i}"] = value[:, i]
    return out


def _write_xdmf(data: Any, path: Path, step: int | None) -> None:
    import meshio

    from meshfield.io._meshio import write_xdmf_metadata

    arrays = export_arrays(data, step=step)
    mesh = to_meshio(data, step=step)
    mesh.point_data = _xdmf_attributes(mesh.point_data)
    mesh.cell_data = _xdmf_attributes(mesh.cell_data)
    # the .xdmf names its .h5 file, so both are written under their final names in a private
    # folder beside the target and then moved into place, the .xdmf last
    with atomic_files(path.with_suffix(".h5"), path) as (h5, xdmf):
        meshio.xdmf.write(str(xdmf), mesh, data_format="HDF", compression=None)
        write_xdmf_metadata(
            h5,
            {
                "boundary_names": arrays.boundary_names,
                "cond": arrays.cond,
                "cond_names": arrays.cond_names,
                "time": arrays.time,
            },
        )


def _write_pvd(data: Any, path: Path) -> None:
    total = num_steps(data)
    times = (
        np.asarray(data.times.detach().cpu() if hasattr(data.times, "detach") else data.times)
        if "times" in data and data.times is not None
        else np.arange(total, dtype=np.float32)
    )
    folder = path.parent / path.stem
    folder.mkdir(exist_ok=True)
    # Overwriting a series writes its steps under the other of two name sets and replaces the
    # .pvd last, so a kill at any point leaves either the old series or the new one whole.
    prefix, other = _step_prefixes(path)
    width = max(4, len(str(total - 1)))
    collection_root = ET.Element(
        "VTKFile", type="Collection", version="0.1", byte_order="LittleEndian"
    )
    collection = ET.SubElement(collection_root, "Collection")
    for index in range(total):
        step_path = folder / f"{prefix}_{index:0{width}d}.vtu"
        grid = to_pyvista(data, step=index)
        with atomic_path(step_path, suffix=step_path.suffix) as tmp:
            grid.save(tmp)
        ET.SubElement(
            collection,
            "DataSet",
            # repr of the float keeps every bit of the float32 time
            timestep=repr(float(times[index])),
            group="",
            part="0",
            file=step_path.relative_to(path.parent).as_posix(),
        )
    ET.indent(collection_root)
    with atomic_path(path, suffix=path.suffix) as tmp:
        ET.ElementTree(collection_root).write(tmp, encoding="utf-8", xml_declaration=True)
    stale = re.compile(rf"{re.escape(other)}_\d+\.vtu|{re.escape(prefix)}_\d+\.vtu")
    keep = {f"{prefix}_{index:0{width}d}.vtu" for index in range(total)}
    for old_step in folder.iterdir():
        if stale.fullmatch(old_step.name) and old_step.name not in keep:
            old_step.unlink(missing_ok=True)


def _step_prefixes(path: Path) -> tuple[str, str]:
    """The step-name prefix a new series uses, and the one its current ``.pvd`` may use."""
    first, second = path.stem, f"{path.stem}~"
    if not path.is_file():
        return first, second
    try:
        files = [d.get("file", "") for d in ET.parse(path).getroot().iter("DataSet")]
    except ET.ParseError:
        return first, second
    in_use = any(Path(f).name.startswith(f"{first}_") for f in files)
    return (second, first) if in_use else (first, second)


def save(data: Any, path: str | os.PathLike[str], *, step: int | None = None) -> Path:
    """Write a graph to ``path``; the suffix picks the format.

    ``.pvd`` writes every time step: one ``.vtu`` per step in the folder ``<stem>/`` beside the
    ``.pvd`` collection, which is written last. ``.vtu``, ``.vtk`` (VTK's writers) and ``.xdmf``
    (meshio, with a ``.h5`` file beside it) hold one time step. Every field, the boundary
    tags and names, the conditions and the step's time are stored so that
    :func:`meshfield.load_mesh` reads the same graph back (points bitwise). Files are written to
    a temporary name in the target folder and renamed, so a reader never sees half a file.

    Parameters
    ----------
    data
        A :class:`~meshfield.data.MeshGraph`.
    path
        Target file; its folder must exist.
    step
        For the single-step formats, the time step to write. default: ``None`` (the last;
        with a warning if the graph has several)

    Returns
    -------
    pathlib.Path
        The written file (the ``.pvd`` for a series).

    Raises
    ------
    MeshFormatError
        If the suffix is not one of ``.vtu``, ``.vtk``, ``.xdmf``, ``.pvd``.
    MeshFileNotFoundError
        If the target folder does not exist.

    Example
    -------
    >>> import meshfield
    >>> meshfield.save(data, "results/run.pvd")  # doctest: +SKIP
    PosixPath('results/run.pvd')
    """
    from meshfield.errors import MeshFileNotFoundError

    path = Path(os.fspath(path)).expanduser()
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        msg = (
            f"Cannot write {path}: unknown extension {path.suffix!r}; supported: "
            f"{', '.join(WRITE_SUFFIXES)}"
        )
        raise MeshFormatError(msg)
    if not path.parent.is_dir():
        msg = f"Cannot write {path}: folder {path.parent} does not exist"
        raise MeshFileNotFoundError(msg)
    if suffix == ".pvd":
        _write_pvd(data, path)
        return path
    total = num_steps(data)
    if step is None and total > 1:
        warnings.warn(
            f"{path.name} holds one time step; writing the last of {total} "
            "(pass step= to choose, or write .pvd for all steps)",
            stacklevel=2,
        )
    if suffix == ".xdmf":
        _write_xdmf(data, path, step)
    else:
        _write_vtk(data, path, step)
    return path
