"""Regular grids as meshes: pixels become quads, voxels hexahedra.

Node ``(i, j[, k])`` of a grid of shape ``(nx, ny[, nz])`` is node ``i + nx * (j + ny * k)``
of the graph: x runs fastest, as in VTK and :class:`pyvista.ImageData`. The graph is an
ordinary :class:`~meshfield.data.MeshGraph`; only ``grid_shape`` tells :func:`to_grid` how to
fold the fields back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from meshfield.data.build import channel_names, mesh_graph
from meshfield.data.graph import MeshGraph
from meshfield.errors import MeshValidationError, MissingDependencyError

__all__ = ["from_grid", "to_grid"]


def _per_axis(name: str, value: float | Sequence[float], dim: int) -> np.ndarray:
    values = np.asarray(value, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(dim, float(values))
    if values.shape != (dim,) or not np.isfinite(values).all():
        msg = f"{name}: expected a finite number or {dim} numbers, one per axis (got {value!r})"
        raise MeshValidationError(msg)
    return values


def _grid_points(shape: tuple[int, ...], spacing: np.ndarray, origin: np.ndarray) -> np.ndarray:
    axes = [origin[a] + spacing[a] * np.arange(n) for a, n in enumerate(shape)]
    # meshgrid over the reversed axes makes x the fastest-running index
    mesh = np.meshgrid(*axes[::-1], indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh[::-1]], axis=1)


def _grid_cells(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Quads (2D) or hexahedra (3D) in VTK node and cell order (x fastest)."""
    strides = np.cumprod((1, *shape[:-1]))
    corner_ranges = [np.arange(n - 1) * s for n, s in zip(shape, strides, strict=True)]
    mesh = np.meshgrid(*corner_ranges[::-1], indexing="ij")
    base = sum(m.reshape(-1) for m in mesh).astype(np.int64)
    sx, sy = strides[0], strides[1]
    square = np.array([0, sx, sx + sy, sy], dtype=np.int64)
    if len(shape) == 2:
        return {"quad": base[:, None] + square}
    cube = np.concatenate([square, square + strides[2]])
    return {"hexahedron": base[:, None] + cube}


def _nodes_first(values: np.ndarray, spatial: int, timed: bool) -> np.ndarray:
    """``[T?, *shape, C]`` -> ``[T?, N, C]`` with x fastest."""
    lead = 1 if timed else 0
    axes = [*range(lead), *range(lead + spatial - 1, lead - 1, -1), lead + spatial]
    moved = np.transpose(values, axes)
    return moved.reshape(*moved.shape[:lead], -1, moved.shape[-1])


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    ok = len(shape) in (2, 3) and all(isinstance(n, (int, np.integer)) and n >= 2 for n in shape)
    if not ok:
        msg = (
            f"grid_shape: expected 2 or 3 point counts >= 2, one per axis (got {tuple(shape)}); "
            "a grid needs at least one cell along every axis"
        )
        raise MeshValidationError(msg)
    return tuple(int(n) for n in shape)


def _is_pyvista(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return module.startswith(("pyvista", "vtk"))


def _from_image(image: Any, field_names: Sequence[str] | None, times: Any) -> MeshGraph:
    try:
        import pyvista as pv
    except ImportError as exc:  # pragma: no cover - pyvista is a dependency
        msg = "reading a pyvista ImageData needs pyvista: pip install pyvista"
        raise MissingDependencyError(msg) from exc
    image = pv.wrap(image)
    if not isinstance(image, pv.ImageData):
        msg = (
            "from_grid: expected an array, a shape or a "
            f"pyvista.ImageData (got {type(image).__name__})"
        )
        raise MeshValidationError(msg)
    if times is not None:
        msg = "times: an ImageData holds one time step; build a [T, *shape, C] array instead"
        raise MeshValidationError(msg)
    dims = tuple(int(n) for n in image.dimensions)
    shape = _check_shape(dims[:2] if dims[2] == 1 else dims)
    pos = np.asarray(image.points, dtype=np.float64)  # 2D: constant z, kept by mesh_graph in z0
    cells = _grid_cells(shape)
    fields: dict[str, np.ndarray] = {}
    for name in image.point_data:
        fields[name] = np.asarray(image.point_data[name])
    cell_type = next(iter(cells))
    names: list[str] = []
    cell_parts: list[np.ndarray] = []
    for name in image.cell_data:
        values = np.asarray(image.cell_data[name]).reshape(image.n_cells, -1)
        cell_parts.append(values)
        names += channel_names(name, values.shape[1])
    if field_names is not None:
        if len(fields) != 1:
            msg = f"field_names: rename only an image with one point array (got {list(fields)})"
            raise MeshValidationError(msg)
        (values,) = fields.values()
        fields = {}
        data = values.reshape(len(values), -1)
        if len(field_names) != data.shape[1]:
            msg = (
                f"field_names: expected C = {data.shape[1]} names "
                f"(got {len(field_names)}: {list(field_names)})"
            )
            raise MeshValidationError(msg)
        fields = {str(n): data[:, i] for i, n in enumerate(field_names)}
    graph = mesh_graph(
        pos,
        cells,
        fields=fields or None,
        cell_fields={cell_type: np.concatenate(cell_parts, axis=1)} if cell_parts else None,
        cell_field_names=names or None,
        source=f"pyvista.ImageData {dims}",
    )
    graph.grid_shape = shape
    return graph


def from_grid(
    array_or_shape: Any,
    *,
    spacing: float | Sequence[float] = 1.0,
    origin: float | Sequence[float] = 0.0,
    field_names: Sequence[str] | None = None,
    times: Any = None,
) -> MeshGraph:
    r"""A regular 2D or 3D grid as a mesh graph.

    Pixels become ``quad`` cells, voxels ``hexahedron`` cells; the edges are the 4-neighbour
    (6-neighbour in 3D) lattice edges, the boundary the nodes on the grid's sides. Array axis
    ``a`` is coordinate axis ``a`` (axis 0 is x); nodes are numbered with x fastest, as in
    :class:`pyvista.ImageData`. :func:`to_grid` folds the fields back.

    Parameters
    ----------
    array_or_shape : array_like, tuple of int or pyvista.ImageData
        Field values ``[*shape, C]`` (``[T, *shape, C]`` when ``times`` is given), a numpy
        array or torch tensor; or a shape such as ``(64, 64)`` for the geometry alone; or an
        ImageData, whose points, spacing, point data and cell data are used.
    spacing : float or sequence of float, default: 1.0
        Distance between nodes, one value or one per axis (not used for an ImageData).
    origin : float or sequence of float, default: 0.0
        Coordinates of node 0 (not used for an ImageData).
    field_names : list of str, optional
        One name per channel ``C``. default: ``"field_i"`` (the array names of an ImageData).
    times : array_like, optional
        Times of the ``T`` steps; the array then has a leading time axis. default: one step,
        no times stored.

    Returns
    -------
    MeshGraph
        With ``grid_shape`` set to ``shape``.

    Raises
    ------
    MeshValidationError
        A shape with fewer than 2 points along an axis, a spatial rank other than 2 or 3,
        ``times`` that do not match the leading axis.

    Shapes
    ------
    - **array_or_shape**: ``[*shape, C]`` or ``[T, *shape, C]``, ``shape`` = ``(nx, ny[, nz])``
    - **output.pos**: ``[nx * ny (* nz), d]``; **output.fields**: ``[T, N, C]``

    Example
    -------
    >>> import numpy as np
    >>> g = from_grid(np.zeros((4, 3, 2), dtype=np.float32))
    >>> g.grid_shape, g.cells["quad"].shape, to_grid(g).shape
    ((4, 3), torch.Size([6, 4]), torch.Size([4, 3, 2]))
    """
    if _is_pyvista(array_or_shape):
        return _from_image(array_or_shape, field_names, times)

    is_shape = isinstance(array_or_shape, (tuple, torch.Size)) and all(
        isinstance(n, (int, np.integer)) for n in array_or_shape
    )
    values = None
    if is_shape:
        shape = _check_shape(array_or_shape)
        if times is not None or field_names is not None:
            msg = "from_grid: times and field_names need field values, not just a shape"
            raise MeshValidationError(msg)
    else:
        if isinstance(array_or_shape, Tensor):
            values = array_or_shape.detach().cpu().numpy()
        else:
            values = np.asarray(array_or_shape)
        lead = 0 if times is None else 1
        if values.ndim - 1 - lead not in (2, 3):
            layout = "[*shape, C]" if times is None else "[T, *shape, C]"
            msg = (
                f"from_grid: expected an array of shape {layout} with 2 or 3 spatial axes "
                f"(got {list(values.shape)})"
            )
            raise MeshValidationError(msg)
        if times is not None:
            steps = np.asarray(times.detach().cpu() if isinstance(times, Tensor) else times)
            if steps.ndim != 1 or len(steps) != values.shape[0]:
                msg = (
                    f"times: expected a tensor of shape [T] with T = {values.shape[0]}, the "
                    f"leading axis of the array (got {list(steps.shape)})"
                )
                raise MeshValidationError(msg)
        shape = _check_shape(values.shape[lead:-1])

    dim = len(shape)
    pos = _grid_points(shape, _per_axis("spacing", spacing, dim), _per_axis("origin", origin, dim))
    fields = None if values is None else _nodes_first(values, dim, times is not None)
    graph = mesh_graph(
        pos,
        _grid_cells(shape),
        fields=fields,
        field_names=field_names,
        times=times,
        source=f"grid {shape}",
    )
    graph.grid_shape = shape
    return graph


def to_grid(data: Any) -> Tensor:
    r"""The fields of a grid graph as an array of the grid's layout again.

    Inverse of :func:`from_grid`: float32 input comes back exactly.

    Parameters
    ----------
    data : MeshGraph
        A graph made by :func:`from_grid` (it has ``grid_shape`` and ``fields``).

    Returns
    -------
    torch.Tensor
        ``[*shape, C]``, or ``[T, *shape, C]`` when the graph has ``times`` (or more than one
        step).

    Raises
    ------
    MeshValidationError
        When ``data`` is not a grid, has no fields, or its node count does not match
        ``grid_shape``.

    Shapes
    ------
    - **data.fields**: ``[T, N, C]`` with ``N = prod(shape)``
    - **output**: ``[*shape, C]`` or ``[T, *shape, C]``
    """
    if "grid_shape" not in data or data.grid_shape is None:
        msg = (
            "to_grid: expected a grid graph with grid_shape (made by from_grid); this graph has "
            "none, so its nodes have no grid layout"
        )
        raise MeshValidationError(msg)
    shape = tuple(int(n) for n in data.grid_shape)
    if "fields" not in data or data.fields is None:
        msg = (
            f"to_grid: expected fields [T, N, C] to fold into the grid {shape} (the graph has none)"
        )
        raise MeshValidationError(msg)
    fields = data.fields
    if fields.dim() != 3 or fields.shape[1] != math.prod(shape):
        msg = (
            f"fields: expected a tensor of shape [T, N, C] with N = {math.prod(shape)} nodes of "
            f"the grid {shape} (got {list(fields.shape)})"
        )
        raise MeshValidationError(msg)
    num_steps, _, channels = fields.shape
    dim = len(shape)
    grid = fields.reshape(num_steps, *shape[::-1], channels)
    grid = grid.permute(0, *range(dim, 0, -1), dim + 1).contiguous()
    if "times" not in data and num_steps == 1:
        return grid[0]
    return grid
