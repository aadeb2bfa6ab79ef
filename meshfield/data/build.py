"""Build a :class:`~meshfield.data.MeshGraph` from points, cells and data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import scatter

from meshfield.data.cells import CellsLike, as_cell_arrays, cell_dim, is_cell_type
from meshfield.data.graph import MeshGraph
from meshfield.data.topology import _boundary, _edges, detect_boundary, edges_from_cells
from meshfield.errors import MeshValidationError

__all__ = ["cell_to_point", "channel_names", "detect_boundary", "edges_from_cells", "mesh_graph"]

ArrayLike = Any  # numpy array, torch tensor or nested sequence


def _numpy(value: ArrayLike) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _shape(array: np.ndarray) -> str:
    return str(list(array.shape))


def channel_names(name: str, num_channels: int) -> list[str]:
    """Names of the channels of a point or cell array called ``name``.

    One channel keeps the name; 2 or 3 channels are a vector (``U_x``, ``U_y``, ``U_z``); any
    other count is numbered (``A_0``, ``A_1``, ...).

    Example
    -------
    >>> channel_names("U", 2), channel_names("p", 1)
    (['U_x', 'U_y'], ['p'])
    """
    if num_channels == 1:
        return [name]
    if num_channels in (2, 3):
        return [f"{name}_{axis}" for axis in "xyz"[:num_channels]]
    return [f"{name}_{i}" for i in range(num_channels)]


def _as_tnc(array: np.ndarray) -> np.ndarray:
    """[n] -> [1, n, 1], [n, C] -> [1, n, C], [T, n, C] unchanged."""
    if array.ndim == 1:
        return array[None, :, None]
    if array.ndim == 2:
        return array[None]
    return array


def _check_data(
    key: str,
    array: np.ndarray,
    expected: int,
    what: str,
    other: dict[int, str],
    advice: str,
    prefix: str,
) -> np.ndarray:
    """Check one point or cell array and return it as float32 ``[T, n, C]``.

    ``other`` maps the lengths of the other kind of data (cells for point data, points for cell
    data) to what they are, so that data given for the wrong entity says so (``advice``).
    """
    layout = "[T, n_cells, C]" if "cell" in what else "[T, N, C]"
    if array.ndim not in (1, 2, 3):
        msg = (
            f"{prefix}{key}: expected an array of shape [n], [n, C] or {layout} with "
            f"{what} (got {_shape(array)})"
        )
        raise MeshValidationError(msg)
    if array.dtype.kind not in "biuf":
        msg = f"{prefix}{key}: expected numeric values (got dtype {array.dtype})"
        raise MeshValidationError(msg)
    data = _as_tnc(array)
    found = data.shape[1]
    if found != expected:
        if found in other:
            hint = f"{found} is {other[found]}: {advice}"
        else:
            counts = ", ".join(str(n) for n in sorted(other))
            hint = f"{found} matches neither {what} nor {counts} ({'; '.join(other.values())})"
        msg = (
            f"{prefix}{key}: expected a tensor of shape "
            f"{layout} with {what} (got {_shape(data)}); {hint}"
        )
        raise MeshValidationError(msg)
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        msg = f"{prefix}{key}: expected finite values (got {bad} NaN or infinite entries)"
        raise MeshValidationError(msg)
    return data.astype(np.float32, copy=False)


def _point_fields(
    fields: Any,
    field_names: Sequence[str] | None,
    num_nodes: int,
    cell_counts: dict[str, int],
    prefix: str,
) -> tuple[np.ndarray, list[str]]:
    total = sum(cell_counts.values())
    other = {total: "the number of cells"}
    for cell_type, count in cell_counts.items():
        other.setdefault(count, f"the number of {cell_type} cells")
    advice = "pass cell data as cell_fields"
    what = f"N = {num_nodes} nodes"
    if isinstance(fields, Mapping):
        if field_names is not None:
            msg = (
                f"{prefix}field_names: give names either as the "
                "keys of fields or as field_names, not both"
            )
            raise MeshValidationError(msg)
        parts, names = [], []
        for name, value in fields.items():
            data = _check_data(
                f"fields[{name!r}]", _numpy(value), num_nodes, what, other, advice, prefix
            )
            parts.append(data)
            names += channel_names(str(name), data.shape[2])
        steps = {p.shape[0] for p in parts}
        if len(steps) > 1:
            found = {name: p.shape[0] for name, p in zip(fields, parts, strict=True)}
            msg = (
                f"{prefix}fields: expected the same number of "
                f"time steps T in every field (got {found})"
            )
            raise MeshValidationError(msg)
        return np.concatenate(parts, axis=2), names
    data = _check_data("fields", _numpy(fields), num_nodes, what, other, advice, prefix)
    names = _names("field_names", field_names, data.shape[2], "field", "C", prefix)
    return data, names


def _names(
    key: str, names: Sequence[str] | None, count: int, default: str, symbol: str, prefix: str
) -> list[str]:
    if names is None:
        return [f"{default}_{i}" for i in range(count)]
    if isinstance(names, str):
        names = [names]
    names = [str(n) for n in names]
    if len(names) != count:
        msg = f"{prefix}{key}: expected {symbol} = {count} names (got {len(names)}: {names})"
        raise MeshValidationError(msg)
    if len(set(names)) != len(names):
        msg = f"{prefix}{key}: expected unique names (got {names})"
        raise MeshValidationError(msg)
    return names


def _cell_fields(
    cell_fields: Mapping[str, Any],
    cell_field_names: Sequence[str] | None,
    cells: dict[str, np.ndarray],
    blocks: list[tuple[str, int]],
    num_nodes: int,
    prefix: str,
) -> tuple[dict[str, np.ndarray], list[str]]:
    if not isinstance(cell_fields, Mapping):
        msg = (
            f"{prefix}cell_fields: expected a dict of cell type -> [n_cells, C] array, or of "
            f"name -> list of per-block arrays (got {type(cell_fields).__name__})"
        )
        raise MeshValidationError(msg)
    other = {num_nodes: "the number of nodes N"}

    def check(key: str, value: Any, cell_type: str, count: int) -> np.ndarray:
        what = f"n_cells = {count} {cell_type} cells"
        return _check_data(
            key, _numpy(value), count, what, other, "pass point data as fields", prefix
        )

    if all(is_cell_type(k) for k in cell_fields):
        out = {}
        for cell_type, value in cell_fields.items():
            if cell_type not in cells:
                msg = (
                    f"{prefix}cell_fields[{cell_type!r}]: expected a "
                    f"cell type of cells (got one not in {list(cells)})"
                )
                raise MeshValidationError(msg)
            out[cell_type] = check(
                f"cell_fields[{cell_type!r}]", value, cell_type, len(cells[cell_type])
            )
        channels = {v.shape[2] for v in out.values()}
        steps = {v.shape[0] for v in out.values()}
        if len(channels) > 1 or len(steps) > 1:
            found = {t: list(v.shape) for t, v in out.items()}
            msg = (
                f"{prefix}cell_fields: expected the same T and C for every cell type (got {found})"
            )
            raise MeshValidationError(msg)
        count = channels.pop() if channels else 0
        return out, _names(
            "cell_field_names", cell_field_names, count, "cell_field", "C_cell", prefix
        )

    # meshio's cell_data: name -> one array per cell block, in the order of the blocks
    if cell_field_names is not None:
        msg = (
            f"{prefix}cell_field_names: give names either as the "
            "keys of cell_fields or as cell_field_names, not both"
        )
        raise MeshValidationError(msg)
    per_type: dict[str, list[np.ndarray]] = {t: [] for t in cells}
    names: list[str] = []
    for name, arrays in cell_fields.items():
        if (
            isinstance(arrays, (np.ndarray, Tensor))
            or not isinstance(arrays, Sequence)
            or len(arrays) != len(blocks)
        ):
            msg = (
                f"{prefix}cell_fields[{name!r}]: expected a list of {len(blocks)} arrays, one per "
                f"cell block (got {type(arrays).__name__})"
            )
            raise MeshValidationError(msg)
        merged: dict[str, list[np.ndarray]] = {t: [] for t in cells}
        for i, ((cell_type, count), value) in enumerate(zip(blocks, arrays, strict=True)):
            merged[cell_type].append(check(f"cell_fields[{name!r}][{i}]", value, cell_type, count))
        channels = {a.shape[2] for parts in merged.values() for a in parts}
        if len(channels) > 1:
            msg = (
                f"{prefix}cell_fields[{name!r}]: expected the same number "
                f"of channels in every block (got {sorted(channels)})"
            )
            raise MeshValidationError(msg)
        for cell_type, parts in merged.items():
            per_type[cell_type].append(np.concatenate(parts, axis=1))
        names += channel_names(str(name), channels.pop())
    out = {t: np.concatenate(parts, axis=2) for t, parts in per_type.items() if parts}
    steps = {v.shape[0] for v in out.values()}
    if len(steps) > 1:
        msg = (
            f"{prefix}cell_fields: expected the same number of "
            f"time steps T in every array (got {sorted(steps)})"
        )
        raise MeshValidationError(msg)
    return out, names


def _average(cells: Mapping[str, Tensor], values: Mapping[str, Tensor], num_nodes: int) -> Tensor:
    """Mean of cell values ``[T, n_cells, C]`` over the cells touching each node."""
    src, index = [], []
    for cell_type, value in values.items():
        connectivity = cells[cell_type]
        src.append(value.repeat_interleave(connectivity.shape[1], dim=1))
        index.append(connectivity.reshape(-1))
    return scatter(
        torch.cat(src, dim=1), torch.cat(index), dim=1, dim_size=num_nodes, reduce="mean"
    )


def cell_to_point(
    cells: CellsLike,
    cell_fields: Mapping[str, ArrayLike],
    num_nodes: int | None = None,
) -> Tensor:
    r"""Average cell data onto the nodes.

    Each node gets the mean of the values of the cells that contain it, over all cell types
    that have data:

    .. math::
        u_i = \frac{1}{|C(i)|} \sum_{c \in C(i)} u_c

    Nodes in no cell with data get 0.

    Parameters
    ----------
    cells : dict or list
        Cell type -> ``[n_cells, k]`` node indices.
    cell_fields : dict
        Cell type -> values per cell; every type must have the same trailing shape.
    num_nodes : int, optional
        Number of nodes ``N``. default: largest index + 1.

    Returns
    -------
    torch.Tensor
        float32 node values, in the layout of the input (``[N]``, ``[N, C]`` or ``[T, N, C]``).

    Shapes
    ------
    - **cell_fields[type]**: ``[n_cells]``, ``[n_cells, C]`` or ``[T, n_cells, C]``
    - **output**: ``[N]``, ``[N, C]`` or ``[T, N, C]``

    Example
    -------
    >>> cell_to_point({"line": [[0, 1], [1, 2]]}, {"line": [1.0, 3.0]}).tolist()
    [1.0, 2.0, 3.0]
    """
    arrays, _ = as_cell_arrays(cells, num_nodes)
    if num_nodes is None:
        num_nodes = max((int(c.max()) + 1 for c in arrays.values() if c.size), default=0)
    unknown = [str(k) for k in cell_fields if k not in arrays]
    if unknown:
        msg = (
            f"cell_fields: expected cell types of cells, {list(arrays)}, as keys "
            f"(got {unknown})"
        )
        raise MeshValidationError(msg)
    values, _ = _cell_fields(dict(cell_fields), None, arrays, [], num_nodes, "")
    ndim = {_numpy(v).ndim for v in cell_fields.values()}
    connectivity = {t: torch.from_numpy(c) for t, c in arrays.items()}
    out = _average(connectivity, {t: torch.from_numpy(v) for t, v in values.items()}, num_nodes)
    if ndim == {1}:
        return out[0, :, 0]
    if ndim == {2}:
        return out[0]
    return out


def _boundary_tags(
    boundary: ArrayLike, names: Sequence[str] | None, num_nodes: int, prefix: str
) -> tuple[np.ndarray, list[str]]:
    tags = _numpy(boundary)
    if tags.shape != (num_nodes,):
        msg = (
            f"{prefix}boundary: expected a tensor of shape [N] "
            f"with N = {num_nodes} nodes (got {_shape(tags)})"
        )
        raise MeshValidationError(msg)
    if tags.dtype == bool:
        tags = tags.astype(np.int64)
        if names is None:
            names = ["interior", "boundary"]
    if tags.dtype.kind not in "iu":
        msg = (
            f"{prefix}boundary: expected integer group ids "
            f"or a boolean mask (got dtype {tags.dtype})"
        )
        raise MeshValidationError(msg)
    tags = tags.astype(np.int64, copy=False)
    low, high = (int(tags.min()), int(tags.max())) if tags.size else (0, 0)
    if low < 0:
        msg = f"{prefix}boundary: expected group ids >= 0 (got {low})"
        raise MeshValidationError(msg)
    if names is None:
        names = ["interior", *(f"boundary_{g}" for g in range(1, high + 1))]
    names = [str(n) for n in names]
    if not names or names[0] != "interior":
        names = ["interior", *names]  # names of groups 1, 2, ... only
    if high >= len(names):
        msg = (
            f"{prefix}boundary_names: expected a name for every group id in boundary, "
            f"0..{high} (got {len(names)} names: {names})"
        )
        raise MeshValidationError(msg)
    return tags, names


def _cond(cond: Any, cond_names: Sequence[str] | None, prefix: str) -> tuple[np.ndarray, list[str]]:
    if isinstance(cond, Mapping):
        if cond_names is not None:
            msg = (
                f"{prefix}cond_names: give names either as "
                "the keys of cond or as cond_names, not both"
            )
            raise MeshValidationError(msg)
        cond_names = [str(k) for k in cond]
        cond = list(cond.values())
    values = _numpy(cond).astype(np.float64).reshape(-1) if np.ndim(_numpy(cond)) <= 1 else None
    if values is None:
        msg = f"{prefix}cond: expected a tensor of shape [K] (got {_shape(_numpy(cond))})"
        raise MeshValidationError(msg)
    if not np.isfinite(values).all():
        msg = f"{prefix}cond: expected finite values (got {values.tolist()})"
        raise MeshValidationError(msg)
    return values.astype(np.float32), _names(
        "cond_names", cond_names, len(values), "cond", "K", prefix
    )


def mesh_graph(
    pos: ArrayLike,
    cells: CellsLike,
    *,
    boundary: ArrayLike | None = None,
    boundary_names: Sequence[str] | None = None,
    fields: ArrayLike | Mapping[str, ArrayLike] | None = None,
    field_names: Sequence[str] | None = None,
    times: ArrayLike | None = None,
    cell_fields: Mapping[str, Any] | None = None,
    cell_field_names: Sequence[str] | None = None,
    cond: ArrayLike | Mapping[str, float] | None = None,
    cond_names: Sequence[str] | None = None,
    cell_to_point: bool = False,
    source: str | None = None,
) -> MeshGraph:
    r"""Build a :class:`MeshGraph` from points, cells and data.

    The edges are the unique undirected edges of all cells (:func:`edges_from_cells`). The
    boundary, when not given, is found topologically (:func:`detect_boundary`): its nodes get
    group 1, ``"boundary"``. Points in 3D with one constant z (and no volume cells) are stored
    in 2D, the constant in ``z0``. Every input is checked; errors name ``source``, the key, the
    expected shape and what was found. The keys of the result are documented in
    :mod:`meshfield.data.keys`.

    Parameters
    ----------
    pos : array_like
        Node coordinates, ``[N, 2]`` or ``[N, 3]``.
    cells : dict or list
        Cell type -> ``[n_cells, k]`` node indices (meshio/VTK node order), or a list of
        ``(type, array)`` blocks or ``meshio.CellBlock``; blocks of one type are merged in order.
    boundary : array_like, optional
        Boundary group id per node (``[N]`` int, 0 = interior) or a boolean mask.
        default: detected from the cells.
    boundary_names : list of str, optional
        Names of the groups, ``"interior"`` first (prepended when missing).
        default: ``"boundary_g"`` for group ``g``.
    fields : array_like or dict, optional
        Point data: ``[N]``, ``[N, C]`` or ``[T, N, C]``, or a dict name -> such array (names
        then expand per :func:`channel_names`). default: no point data.
    field_names : list of str, optional
        One name per channel ``C`` of an array ``fields``. default: ``"field_i"``.
    times : array_like, optional
        Time of each of the ``T`` steps. default: none stored.
    cell_fields : dict, optional
        Cell data: cell type -> ``[n_cells]``, ``[n_cells, C]`` or ``[T, n_cells, C]``, or
        meshio's ``cell_data`` (name -> one array per cell block, with ``cells`` given as
        blocks). default: no cell data.
    cell_field_names : list of str, optional
        One name per cell channel, for the per-type form. default: ``"cell_field_i"``.
    cond : array_like or dict, optional
        Global conditions, ``[K]`` or a dict name -> value. default: none.
    cond_names : list of str, optional
        One name per condition. default: ``"cond_i"``.
    cell_to_point : bool, default: False
        Average cell data onto the nodes (:func:`cell_to_point`) and append it to ``fields``
        under the same names, instead of keeping it in ``cell_fields``.
    source : str, optional
        What the input is (a file name, an object), named in error messages. default: none.

    Returns
    -------
    MeshGraph
        With ``pos``, ``cells``, ``edge_index``, ``boundary``, ``boundary_names`` and the data
        keys that were given.

    Raises
    ------
    MeshValidationError
        Empty mesh, non-finite coordinates or data, out-of-range cell indices, data whose
        length matches neither the points nor the cells, inconsistent names or time steps.

    Shapes
    ------
    - **pos**: ``[N, d]`` -> float32 ``[N, d]``
    - **fields**: ``[T, N, C]`` float32, **times** ``[T]``, **cond** ``[K]``
    - **edge_index**: ``[2, 2E]``, **boundary**: ``[N]``

    Example
    -------
    >>> g = mesh_graph([[0, 0], [1, 0], [1, 1], [0, 1]], {"triangle": [[0, 1, 2], [0, 2, 3]]},
    ...                fields=[1.0, 2.0, 3.0, 4.0], field_names=["T"])
    >>> g.edge_index.shape, g.fields.shape
    (torch.Size([2, 10]), torch.Size([1, 4, 1]))
    """
    prefix = f"{source}: " if source else ""
    points = _numpy(pos)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        msg = f"{prefix}pos: expected a tensor of shape [N, 2] or [N, 3] (got {_shape(points)})"
        raise MeshValidationError(msg)
    if points.dtype.kind not in "iuf":
        msg = f"{prefix}pos: expected numeric coordinates (got dtype {points.dtype})"
        raise MeshValidationError(msg)
    num_nodes = points.shape[0]
    if num_nodes == 0:
        msg = f"{prefix}pos: expected at least one node (got an empty mesh, shape {_shape(points)})"
        raise MeshValidationError(msg)
    # checked as stored (float32): 1e300 is finite in float64 but inf after the cast
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(points.astype(np.float32)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        msg = (
            f"{prefix}pos: expected finite coordinates within float32 range (got NaN, inf or "
            f"|x| > 3.4e38 at {len(bad)} nodes, first node {int(bad[0])}: {points[bad[0]].tolist()})"
        )
        raise MeshValidationError(msg)

    arrays, blocks = as_cell_arrays(cells, num_nodes, source=source)
    if not any(len(c) for c in arrays.values()):
        msg = f"{prefix}cells: expected at least one cell (got none)"
        raise MeshValidationError(msg)

    z0 = None
    if points.shape[1] == 3 and all(cell_dim(t) < 3 for t in arrays):
        z = points[:, 2]
        if (z == z[0]).all():
            z0 = float(z[0])
            points = points[:, :2]

    out: dict[str, Any] = {"pos": torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))}
    if z0 is not None:
        out["z0"] = z0
    out["cells"] = {t: torch.from_numpy(c) for t, c in arrays.items()}

    point_data = names = None
    if fields is not None:
        counts = {t: len(c) for t, c in arrays.items()}
        point_data, names = _point_fields(fields, field_names, num_nodes, counts, prefix)
    elif field_names is not None:
        msg = f"{prefix}field_names: given without fields"
        raise MeshValidationError(msg)

    cell_data = cell_names = None
    if cell_fields is not None:
        cell_data, cell_names = _cell_fields(
            cell_fields, cell_field_names, arrays, blocks, num_nodes, prefix
        )
    elif cell_field_names is not None:
        msg = f"{prefix}cell_field_names: given without cell_fields"
        raise MeshValidationError(msg)

    steps = {}
    if point_data is not None:
        steps["fields"] = point_data.shape[0]
    if cell_data:
        steps["cell_fields"] = next(iter(cell_data.values())).shape[0]
    if len(set(steps.values())) > 1:
        msg = f"{prefix}cell_fields: expected as many time steps T as fields (got {steps})"
        raise MeshValidationError(msg)

    if cell_to_point and cell_data:
        averaged = _average(
            out["cells"], {t: torch.from_numpy(v) for t, v in cell_data.items()}, num_nodes
        )
        if point_data is None:
            point_data, names = averaged.numpy(), list(cell_names)
        else:
            clash = sorted(set(names) & set(cell_names))
            if clash:
                msg = (
                    f"{prefix}cell_fields: names {clash} are already "
                    "point fields; cannot append them to fields"
                )
                raise MeshValidationError(msg)
            point_data = np.concatenate([point_data, averaged.numpy()], axis=2)
            names = names + list(cell_names)
        cell_data = None

    if times is not None:
        stamps = (
            _numpy(times).astype(np.float64).reshape(-1) if np.ndim(_numpy(times)) <= 1 else None
        )
        num_steps = next(iter(steps.values()), None)
        if stamps is None or num_steps is None or len(stamps) != num_steps:
            expected = (
                f"T = {num_steps} steps of fields"
                if num_steps is not None
                else "fields or cell_fields"
            )
            msg = (
                f"{prefix}times: expected a tensor of shape [T] "
                f"with {expected} (got {_shape(_numpy(times))})"
            )
            raise MeshValidationError(msg)
        if not np.isfinite(stamps).all():
            msg = f"{prefix}times: expected finite values (got {stamps.tolist()})"
            raise MeshValidationError(msg)

    if boundary is None:
        if boundary_names is not None:
            msg = f"{prefix}boundary_names: given without boundary"
            raise MeshValidationError(msg)
        mask, unique_edges = _boundary(arrays, num_nodes)
        out["edge_index"] = _edges(arrays, num_nodes, unique_edges)
        out["boundary"] = mask.to(torch.int64)
        out["boundary_names"] = ["interior", "boundary"]
    else:
        tags, group_names = _boundary_tags(boundary, boundary_names, num_nodes, prefix)
        out["edge_index"] = _edges(arrays, num_nodes)
        out["boundary"] = torch.from_numpy(tags)
        out["boundary_names"] = group_names

    if point_data is not None:
        out["fields"] = torch.from_numpy(np.ascontiguousarray(point_data, dtype=np.float32))
        out["field_names"] = names
    if times is not None:
        out["times"] = torch.from_numpy(stamps.astype(np.float32))
    if cell_data:
        out["cell_fields"] = {
            t: torch.from_numpy(np.ascontiguousarray(v)) for t, v in cell_data.items()
        }
        out["cell_field_names"] = cell_names
    if cond is not None:
        values, names_k = _cond(cond, cond_names, prefix)
        out["cond"] = torch.from_numpy(values)
        out["cond_names"] = names_k
    elif cond_names is not None:
        msg = f"{prefix}cond_names: given without cond"
        raise MeshValidationError(msg)
    return MeshGraph(**out)
