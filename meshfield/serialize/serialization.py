"""Serialize mesh nodes into a sequence along a space-filling curve."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from meshfield.serialize.curves import MAX_DEPTH, _check_curve, _check_depth, _encode

__all__ = ["DEFAULT_DEPTH", "Serialization", "default_depth", "quantize", "serialize"]

#: Default bits per axis when the budget allows: 65536 cells per axis in 3D, about 1.7e7 in 2D,
#: finer than any mesh spacing that matters for ordering while leaving 15 bits for graphs.
DEFAULT_DEPTH: dict[int, int] = {2: 24, 3: 16}

_CODE_BITS = 63  # a signed int64 keeps 63 bits for non-negative codes


@dataclass(frozen=True, eq=False)
class Serialization:
    """Nodes ordered along one space-filling curve.

    ``x[order]`` is the node features in sequence order and ``seq[inverse]`` brings a sequence
    back to node order: ``x[order][inverse] == x``.

    Attributes
    ----------
    code : torch.Tensor
        int64 ``[N]``: ``(graph << (depth * dim)) | curve code`` of each node, so nodes of one
        graph are contiguous in sorted order and graphs appear in batch order.
    order : torch.Tensor
        int64 ``[N]``: node index at each sequence position, ``argsort(code, stable=True)``
        (nodes that share a grid cell keep their node order).
    inverse : torch.Tensor
        int64 ``[N]``: sequence position of each node, ``inverse[order] == arange(N)``.
    curve : str
        The curve, one of :data:`~meshfield.serialize.CURVES`.
    depth : int
        Bits per axis of the grid the positions were quantized to.
    """

    code: Tensor
    order: Tensor
    inverse: Tensor
    curve: str
    depth: int

    def __len__(self) -> int:
        return self.order.numel()

    def __repr__(self) -> str:
        return f"Serialization(curve={self.curve!r}, depth={self.depth}, num_nodes={len(self)})"


def _check_pos_batch(pos: Tensor, batch: Tensor | None) -> None:
    if not isinstance(pos, Tensor) or pos.dim() != 2 or pos.shape[1] not in MAX_DEPTH:
        got = tuple(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
        msg = f"Expected 'pos' tensor with shape [num_nodes, 2] or [num_nodes, 3] (got {got})"
        raise ValueError(msg)
    if pos.is_complex() or pos.dtype == torch.bool:
        msg = f"Expected real 'pos' (got dtype {pos.dtype})"
        raise TypeError(msg)
    if pos.is_floating_point() and not bool(torch.isfinite(pos).all()):
        msg = "Expected finite 'pos' (found NaN or infinite coordinates)"
        raise ValueError(msg)
    if batch is None:
        return
    if not isinstance(batch, Tensor) or batch.shape != (pos.shape[0],):
        got = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        msg = f"Expected 'batch' tensor with shape [{pos.shape[0]}] (got {got})"
        raise ValueError(msg)
    if batch.is_floating_point() or batch.is_complex() or batch.dtype == torch.bool:
        msg = f"Expected integer 'batch' (got dtype {batch.dtype})"
        raise TypeError(msg)
    if batch.numel() > 0 and int(batch.min()) < 0:
        msg = f"Expected non-negative graph indices in 'batch' (got {int(batch.min())})"
        raise ValueError(msg)


def _num_graphs(batch: Tensor | None, num_graphs: int | None) -> int:
    if batch is None or batch.numel() == 0:
        return 1 if num_graphs is None else num_graphs
    needed = int(batch.max()) + 1
    if num_graphs is None:
        return needed
    if num_graphs < needed:
        msg = f"'num_graphs' is {num_graphs} but 'batch' holds graph index {needed - 1}"
        raise ValueError(msg)
    return num_graphs


def default_depth(dim: int, num_graphs: int = 1) -> int:
    """Bits per axis used when ``depth`` is not given.

    :data:`DEFAULT_DEPTH` (24 in 2D, 16 in 3D), lowered when the graph index of a batch of
    ``num_graphs`` graphs needs more than the remaining high bits of the int64 code.

    Parameters
    ----------
    dim : int
        Number of axes, 2 or 3.
    num_graphs : int, default: 1
        Number of graphs packed into one code.

    Returns
    -------
    int
        ``min(DEFAULT_DEPTH[dim], (63 - graph_bits) // dim)``.
    """
    graph_bits = max(num_graphs - 1, 0).bit_length()
    depth = min(DEFAULT_DEPTH[dim], (_CODE_BITS - graph_bits) // dim)
    if depth < 1:
        msg = f"{num_graphs} graphs leave no bits of the int64 code for {dim}D coordinates"
        raise ValueError(msg)
    return depth


def _check_budget(depth: int, dim: int, num_graphs: int) -> None:
    _check_depth(depth, dim)
    graph_bits = max(num_graphs - 1, 0).bit_length()
    if depth * dim + graph_bits > _CODE_BITS:
        msg = (
            f"depth={depth} in {dim}D needs {depth * dim} bits and {num_graphs} graphs need "
            f"{graph_bits} more, over the {_CODE_BITS} bits of an int64 code; use "
            f"depth <= {(_CODE_BITS - graph_bits) // dim} or fewer graphs per batch"
        )
        raise ValueError(msg)


def _quantize(pos: Tensor, batch: Tensor | None, depth: int, num_graphs: int) -> Tensor:
    """:func:`quantize` without argument checks."""
    dim = pos.shape[1]
    if not pos.is_floating_point():
        pos = pos.to(torch.float64)
    # min and max are exact in the input dtype; the arithmetic below runs in float64 (the
    # float64 bounds promote it) without a float64 copy of ``pos``
    if batch is None:
        if pos.shape[0]:
            low, high = torch.aminmax(pos, dim=0, keepdim=True)
        else:
            low = high = pos.new_zeros(1, dim)
    else:
        index = batch.view(-1, 1).expand(-1, dim)
        low = pos.new_full((num_graphs, dim), float("inf"))
        low.scatter_reduce_(0, index, pos, reduce="amin")
        high = pos.new_full((num_graphs, dim), float("-inf"))
        high.scatter_reduce_(0, index, pos, reduce="amax")
    low, high = low.to(torch.float64), high.to(torch.float64)
    extent = (high - low).amax(dim=1)
    # a graph whose nodes all coincide (or has no nodes) lands in cell 0
    extent = torch.where(torch.isfinite(extent) & (extent > 0), extent, torch.ones_like(extent))
    scale = (1 << depth) / extent
    if batch is None:
        grid = torch.sub(pos, low).mul_(scale)
    else:
        grid = torch.sub(pos, low.index_select(0, batch)).mul_(
            scale.index_select(0, batch).view(-1, 1)
        )
    # values are >= 0, so truncation is the floor; the upper face goes to the last cell
    return grid.long().clamp_(max=(1 << depth) - 1)


def quantize(
    pos: Tensor,
    batch: Tensor | None = None,
    depth: int | None = None,
    *,
    num_graphs: int | None = None,
) -> Tensor:
    """Integer grid cells of node positions, per graph.

    Each graph is scaled into ``[0, 2**depth)^dim`` by its own bounding box: shifted to its
    lower corner and scaled *isotropically* by its longest side, so shapes are not distorted
    (a thin plate uses few cells across its thickness). The cell size is ``longest side /
    2**depth``; the upper face goes to the last cell. A graph whose nodes all coincide lands in
    cell 0.

    Parameters
    ----------
    pos : torch.Tensor
        Node coordinates (computed in float64).
    batch : torch.Tensor, optional
        Graph index of each node; need not be sorted. default: one graph.
    depth : int, optional
        Bits per axis; default: :func:`default_depth`.
    num_graphs : int, optional
        Number of graphs; default: ``batch.max() + 1``.

    Returns
    -------
    torch.Tensor
        int64 grid coordinates.

    Shapes
    ------
    ``pos [N, dim]``, ``batch [N]`` -> ``[N, dim]``.
    """
    _check_pos_batch(pos, batch)
    num_graphs = _num_graphs(batch, num_graphs)
    dim = pos.shape[1]
    depth = default_depth(dim, num_graphs) if depth is None else depth
    _check_budget(depth, dim, num_graphs)
    return _quantize(pos, batch, depth, num_graphs)


def _order(code: Tensor) -> tuple[Tensor, Tensor]:
    order = torch.argsort(code, stable=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=order.device)
    return order, inverse


def _serialize_grid(
    grid: Tensor, batch: Tensor | None, curve: str, depth: int, num_graphs: int
) -> Serialization:
    code = _encode(grid, curve, depth)
    if batch is not None and num_graphs > 1:
        code.bitwise_or_(batch.long() << (depth * grid.shape[1]))
    order, inverse = _order(code)
    return Serialization(code=code, order=order, inverse=inverse, curve=curve, depth=depth)


def serialize(
    pos: Tensor,
    batch: Tensor | None = None,
    curve: str = "hilbert",
    depth: int | None = None,
    *,
    num_graphs: int | None = None,
) -> Serialization:
    """Order the nodes of one graph or a batch of graphs along a space-filling curve.

    Positions are quantized per graph to a ``2**depth`` grid (:func:`quantize`), encoded along
    ``curve`` (:func:`~meshfield.serialize.encode`), the graph index is packed into the high
    bits of the code and the nodes are sorted by code with a stable sort. Nodes of one graph are
    therefore contiguous in the sequence, graphs follow in increasing index, and nodes that fall
    in the same cell keep their node order.

    Parameters
    ----------
    pos : torch.Tensor
        Node coordinates, 2D or 3D.
    batch : torch.Tensor, optional
        Graph index of each node, as in a PyG :class:`~torch_geometric.data.Batch`. It need
        not be sorted: the sequence is grouped by graph either way. default: one graph.
    curve : str, default: "hilbert"
        One of :data:`~meshfield.serialize.CURVES`.
    depth : int, optional
        Bits per axis. default: :func:`default_depth` (24 in 2D, 16 in 3D, lowered for batches
        of more than 32768 graphs). ``depth * dim`` plus the bits of the largest graph index
        must fit in 63 bits.
    num_graphs : int, optional
        Number of graphs; default: ``batch.max() + 1`` (passing it saves a device sync).

    Returns
    -------
    Serialization
        ``code``, ``order``, ``inverse``, ``curve`` and ``depth``.

    Shapes
    ------
    ``pos [N, dim]``, ``batch [N]`` -> ``code, order, inverse [N]``.

    References
    ----------
    X. Wu et al., "Point Transformer V3: Simpler, Faster, Stronger", CVPR 2024, Sec. 3.1.

    Example
    -------
    >>> import torch
    >>> from meshfield.serialize import serialize
    >>> pos = torch.rand(100, 3)
    >>> s = serialize(pos, curve="hilbert")
    >>> bool((pos[s.order][s.inverse] == pos).all())
    True
    """
    _check_curve(curve)
    _check_pos_batch(pos, batch)
    num_graphs = _num_graphs(batch, num_graphs)
    dim = pos.shape[1]
    depth = default_depth(dim, num_graphs) if depth is None else depth
    _check_budget(depth, dim, num_graphs)
    grid = _quantize(pos, batch, depth, num_graphs)
    return _serialize_grid(grid, batch, curve, depth, num_graphs)
