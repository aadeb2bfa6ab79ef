"""PyVista/VTK <-> meshfield: any ``pyvista.DataSet``, VTK files, ``.pvd`` series, and
:func:`to_pyvista`.

PyVista is imported inside the functions; without it they raise
:class:`~meshfield.errors.MissingDependencyError` with the install command.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.errors import (
    MeshFormatError,
    MeshValidationError,
    MissingDependencyError,
)
from meshfield.io._export import BOUNDARY_ARRAY
from meshfield.io._raw import RawMesh, merge_blocks

__all__ = [
    "VTK_SUFFIXES",
    "from_pyvista",
    "import_pyvista",
    "read_pvd",
    "read_vtk_file",
]

#: Suffixes read with VTK's own readers (through PyVista).
VTK_SUFFIXES = (".vtu", ".vtk", ".vtp", ".vts", ".vtr", ".vti")

#: Field-data arrays meshfield writes next to the point and cell data.
BOUNDARY_NAMES = "boundary_names"
COND = "cond"
COND_NAMES = "cond_names"
#: ParaView shows a dataset's time from this field-data array.
TIME_VALUE = "TimeValue"

# VTK cell type id -> (meshio type, node permutation or None)
_LINEAR = {
    1: ("vertex", None),
    3: ("line", None),
    5: ("triangle", None),
    8: ("quad", (0, 1, 3, 2)),  # VTK_PIXEL: axis-aligned quad in raster order
    9: ("quad", None),
    10: ("tetra", None),
    11: ("hexahedron", (0, 1, 3, 2, 4, 5, 7, 6)),  # VTK_VOXEL
    12: ("hexahedron", None),
    13: ("wedge", None),
    14: ("pyramid", None),
}
_VTK_POLY_VERTEX = 2
_VTK_POLY_LINE = 4
_VTK_TRIANGLE_STRIP = 6
_VTK_POLYGON = 7
_VTK_EMPTY = 0

_TO_VTK = {
    "vertex": 1,
    "line": 3,
    "triangle": 5,
    "quad": 9,
    "tetra": 10,
    "hexahedron": 12,
    "wedge": 13,
    "pyramid": 14,
}


def import_pyvista() -> Any:
    """Import PyVista or raise :class:`MissingDependencyError` with the install command."""
    try:
        import pyvista
    except ImportError as exc:
        msg = "This needs PyVista: pip install pyvista"
        raise MissingDependencyError(msg) from exc
    return pyvista


@contextmanager
def _vtk_errors_raise(pv: Any) -> Iterator[None]:
    # VTK reports read errors through its logger and carries on; turn them into exceptions.
    # PyVista also forwards some of VTK's messages to the root logger (whose module-level
    # functions would install a stderr handler): none of them reach the terminal here.
    root = logging.getLogger()
    quiet = logging.NullHandler()
    root.addHandler(quiet)
    previous = root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pv.vtk_verbosity("off"), pv.VtkErrorCatcher(
                raise_errors=True, send_to_logging=False
            ):
                yield
    finally:
        logging.disable(previous)
        root.removeHandler(quiet)


def vtk_reason(exc: BaseException) -> str:
    """The first line of VTK's error that says what is wrong, without source lines or addresses.

    ``"ERROR: In vtkXMLUnstructuredGridReader.cxx, line 160\nvtkXMLUnstructuredGridReader
    (0x55..): A piece is missing its Cells element.\n..."`` becomes ``"vtkXMLUnstructuredGrid
    Reader: A piece is missing its Cells element."``.
    """
    for line in str(exc).splitlines():
        line = line.strip()
        if not line or line.startswith(("ERROR: In ", "Warning: In ")):
            continue
        return re.sub(r"\s*\(0x[0-9a-fA-F]+\)", "", line)[:300]
    return type(exc).__name__


def _cell_name(pv: Any, vtk_type: int) -> str:
    try:
        return pv.CellType(vtk_type).name
    except ValueError:
        return str(vtk_type)


def _cell_blocks(
    pv: Any, grid: Any, source: str
) -> tuple[list[tuple[str, np.ndarray]], list[np.ndarray]]:
    """Cell blocks of an unstructured grid and the VTK cell id of every cell in them."""
    types = np.asarray(grid.celltypes)
    offsets = np.asarray(grid.cell_offsets if hasattr(grid, "cell_offsets") else grid.offset)
    conn = np.asarray(grid.cell_connectivity).astype(np.int64, copy=False)
    sizes = np.diff(offsets)
    blocks: list[tuple[str, np.ndarray]] = []
    ids_per_block: list[np.ndarray] = []
    _, first = np.unique(types, return_index=True)
    for vtk_type in types[np.sort(first)]:
        ids = np.flatnonzero(types == vtk_type)
        vtk_type = int(vtk_type)
        if vtk_type in _LINEAR:
            name, perm = _LINEAR[vtk_type]
            k = int(sizes[ids[0]])
            block = conn[offsets[ids][:, None] + np.arange(k)]
            blocks.append((name, block[:, list(perm)] if perm is not None else block))
            ids_per_block.append(ids)
        elif vtk_type == _VTK_POLYGON:
            _, first_size = np.unique(sizes[ids], return_index=True)
            for size in sizes[ids][np.sort(first_size)]:
                sub = ids[sizes[ids] == size]
                name = {3: "triangle", 4: "quad"}.get(int(size), f"polygon{int(size)}")
                blocks.append((name, conn[offsets[sub][:, None] + np.arange(int(size))]))
                ids_per_block.append(sub)
        elif vtk_type in (_VTK_POLY_LINE, _VTK_POLY_VERTEX, _VTK_TRIANGLE_STRIP):
            pieces, owners = [], []
            for cell in ids:
                nodes = conn[offsets[cell] : offsets[cell + 1]]
                if vtk_type == _VTK_POLY_VERTEX:
                    piece = nodes[:, None]
                elif vtk_type == _VTK_POLY_LINE:
                    piece = np.stack([nodes[:-1], nodes[1:]], axis=1)
                else:
                    # strip triangle j is (j, j+1, j+2), every other one flipped to keep the
                    # orientation of the first
                    piece = np.stack([nodes[:-2], nodes[1:-1], nodes[2:]], axis=1)
                    piece[1::2] = piece[1::2][:, [1, 0, 2]]
                pieces.append(piece)
                owners.append(np.full(len(piece), cell))
            name = {_VTK_POLY_VERTEX: "vertex", _VTK_POLY_LINE: "line"}.get(vtk_type, "triangle")
            blocks.append((name, np.concatenate(pieces)))
            ids_per_block.append(np.concatenate(owners))
        elif vtk_type == _VTK_EMPTY:
            continue
        else:
            msg = (
                f"{source}: cell type {_cell_name(pv, vtk_type)} (VTK id {vtk_type}) is not "
                "supported; supported: linear cells (vertex, line, triangle, quad, polygon, "
                "tetra, hexahedron, wedge, pyramid, pixel, voxel, poly-line, triangle strip)"
            )
            raise MeshFormatError(msg)
    return blocks, ids_per_block


def _strings(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)]


def from_pyvista(
    dataset: Any, *, source: str | None = None, block: int | str | None = None
) -> RawMesh:
    """Convert a PyVista dataset into a :class:`RawMesh` (one time step).

    Parameters
    ----------
    dataset
        Any ``pyvista.DataSet`` (unstructured, poly, structured, image, rectilinear) or a
        ``pyvista.MultiBlock`` with ``block`` naming the block to read.
    source
        Name for error messages. default: ``None`` (the dataset's class)
    block
        Name or index of the block of a MultiBlock. default: ``None`` (the only one)
    """
    pv = import_pyvista()
    source = source or f"<{type(dataset).__name__}>"
    if isinstance(dataset, pv.MultiBlock):
        dataset = select_block(dataset, block, source)
    if not isinstance(dataset, pv.DataSet):
        msg = f"{source}: expected a pyvista.DataSet or MultiBlock (got {type(dataset).__name__})"
        raise MeshFormatError(msg)
    grid = (
        dataset if isinstance(dataset, pv.UnstructuredGrid) else dataset.cast_to_unstructured_grid()
    )
    blocks, ids_per_block = _cell_blocks(pv, grid, source)

    cell_data = {}
    for name, values in grid.cell_data.items():
        cell_data[name] = [np.asarray(values)[ids] for ids in ids_per_block]
    cells, cell_data = merge_blocks(blocks, cell_data)

    point_data = {name: np.asarray(values) for name, values in grid.point_data.items()}
    raw = RawMesh(
        points=np.asarray(grid.points),
        cells=cells,
        point_data=point_data,
        cell_data=cell_data,
        source=source,
    )
    field_data = dataset.field_data
    if BOUNDARY_NAMES in field_data and BOUNDARY_ARRAY in point_data:
        raw.boundary = np.asarray(raw.point_data.pop(BOUNDARY_ARRAY), dtype=np.int64)
        raw.boundary_names = _strings(field_data[BOUNDARY_NAMES])
    if COND in field_data and COND_NAMES in field_data:
        raw.cond = dict(
            zip(_strings(field_data[COND_NAMES]), np.asarray(field_data[COND]).tolist())
        )
    if TIME_VALUE in field_data:
        raw.time = float(np.asarray(field_data[TIME_VALUE]).reshape(-1)[0])
    return raw


def select_block(blocks: Any, block: int | str | None, source: str) -> Any:
    """The dataset ``block`` of a MultiBlock, or its only non-empty dataset if ``block`` is None.

    Raises
    ------
    MeshFormatError
        If ``block`` is not in the MultiBlock, or is ``None`` and the choice is ambiguous; the
        message lists the blocks.
    """
    pv = import_pyvista()
    names = list(blocks.keys())

    def listing() -> str:
        rows = []
        for i, name in enumerate(names):
            item = blocks[i]
            kind = type(item).__name__
            size = f", {item.n_points} points" if isinstance(item, pv.DataSet) else ""
            rows.append(f"  [{i}] {name!r}: {kind}{size}")
        return "\n".join(rows)

    if block is None:
        leaves = [i for i in range(len(blocks)) if blocks[i] is not None and blocks[i].n_points > 0]
        if len(leaves) == 1:
            chosen = blocks[leaves[0]]
            return (
                select_block(chosen, None, source) if isinstance(chosen, pv.MultiBlock) else chosen
            )
        msg = (
            f"{source}: a MultiBlock with {len(leaves)} non-empty blocks; choose one with "
            f"block=<name or index>:\n{listing()}"
        )
        raise MeshFormatError(msg)
    if isinstance(block, int) and not isinstance(block, bool):
        if not -len(blocks) <= block < len(blocks):
            msg = f"{source}: no block {block}; the blocks are:\n{listing()}"
            raise MeshFormatError(msg)
        chosen = blocks[block]
    else:
        if block not in names:
            msg = f"{source}: no block named {block!r}; the blocks are:\n{listing()}"
            raise MeshFormatError(msg)
        chosen = blocks[block]
    if isinstance(chosen, pv.MultiBlock):
        return select_block(chosen, None, f"{source}[{block!r}]")
    if chosen is None:
        msg = f"{source}: block {block!r} is empty; the blocks are:\n{listing()}"
        raise MeshFormatError(msg)
    return chosen


def read_vtk_file(path: Path, *, block: int | str | None = None) -> RawMesh:
    """Read a VTK file (XML or legacy) with VTK's reader.

    Raises
    ------
    MeshFormatError
        If VTK cannot read the file; VTK's error is the cause.
    """
    pv = import_pyvista()
    try:
        with _vtk_errors_raise(pv):
            dataset = pv.read(path)
    except Exception as exc:  # VTK raises several kinds; all mean "unreadable"
        msg = f"Could not read {path}: {vtk_reason(exc)}"
        raise MeshFormatError(msg) from exc
    return from_pyvista(dataset, source=str(path), block=block)


def read_pvd(path: Path, *, block: int | str | None = None) -> list[RawMesh]:
    """Read every time step of a ``.pvd`` collection, one :class:`RawMesh` per step."""
    pv = import_pyvista()
    steps = []
    try:
        with _vtk_errors_raise(pv):
            reader = pv.PVDReader(str(path))
            time_values = list(reader.time_values)
            datasets = []
            for time in time_values:
                reader.set_active_time_value(time)
                datasets.append(reader.read())
    except Exception as exc:  # XML and VTK errors both mean "unreadable"
        msg = f"Could not read {path}: {vtk_reason(exc)}"
        raise MeshFormatError(msg) from exc
    if not datasets:
        msg = f"{path}: the collection lists no data sets"
        raise MeshValidationError(msg)
    for time, dataset in zip(time_values, datasets):
        raw = from_pyvista(dataset, source=f"{path} (t={time:g})", block=block)
        raw.time = float(time)
        steps.append(raw)
    return steps
