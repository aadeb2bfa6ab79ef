"""A PyG transform that serializes a graph once and keeps the orders through batching."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from meshfield.serialize.curves import CURVES, _check_curve
from meshfield.serialize.serialization import (
    Serialization,
    _check_budget,
    _check_pos_batch,
    _quantize,
    _serialize_grid,
    default_depth,
    serialize,
)

__all__ = ["DEPTH_KEY", "Serialize", "get_serialization", "serialization_keys"]

#: Key of the depth the stored orders were made with (int64 ``[1]`` per graph).
DEPTH_KEY = "serial_depth"


def _num_graphs(data: Data, batch: Tensor | None) -> int:
    if batch is None:
        return 1
    num_graphs = getattr(data, "num_graphs", None)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 1
    return int(num_graphs)


def serialization_keys(curve: str) -> tuple[str, str, str]:
    """Keys under which :class:`Serialize` stores one curve: code, order and inverse.

    ``"hilbert-trans"`` -> ``("serial_hilbert_trans_code", "serial_hilbert_trans_order_index",
    "serial_hilbert_trans_inverse_index")``. The order and inverse keys contain ``"index"``, so
    :meth:`torch_geometric.data.Batch.from_data_list` adds each graph's node offset to them,
    which is exactly the order and inverse of the batch. The code key holds the code without
    the graph index (``[N]``, concatenated as is).
    """
    _check_curve(curve)
    name = "serial_" + curve.replace("-", "_")
    return f"{name}_code", f"{name}_order_index", f"{name}_inverse_index"


class Serialize(BaseTransform):
    r"""Store the space-filling-curve orders of a graph on the graph, once.

    For every curve, saves the code, the order and the inverse of
    :func:`~meshfield.serialize.serialize` under :func:`serialization_keys`, and the depth
    under ``"serial_depth"``. The keys batch correctly: after
    :meth:`~torch_geometric.data.Batch.from_data_list` (or a PyG ``DataLoader``), the stored
    orders are those :func:`~meshfield.serialize.serialize` computes on the whole batch,
    because the batch's sequence is the graphs' sequences one after the other.
    :func:`get_serialization` reads them back as a
    :class:`~meshfield.serialize.Serialization`.

    Transforms that add, drop or permute nodes afterwards invalidate the stored orders: apply
    :class:`Serialize` last.

    Parameters
    ----------
    curves : sequence of str, default: ("hilbert", "hilbert-trans", "z", "z-trans")
        Curves to store, from :data:`~meshfield.serialize.CURVES`.
    depth : int, optional
        Bits per axis; default: :func:`~meshfield.serialize.default_depth` of one graph (16 in
        3D, 24 in 2D). Batches of more than 32768 graphs need a smaller depth to keep the graph
        index in the code.

    Example
    -------
    >>> import torch
    >>> from torch_geometric.data import Batch, Data
    >>> from meshfield.serialize import Serialize, get_serialization, serialize
    >>> graphs = [Serialize()(Data(pos=torch.rand(n, 3))) for n in (5, 8)]
    >>> batch = Batch.from_data_list(graphs)
    >>> s = get_serialization(batch, "hilbert")
    >>> torch.equal(s.order, serialize(batch.pos, batch.batch, "hilbert").order)
    True
    """

    def __init__(
        self,
        curves: Sequence[str] = ("hilbert", "hilbert-trans", "z", "z-trans"),
        depth: int | None = None,
    ) -> None:
        if isinstance(curves, str):
            curves = (curves,)
        curves = tuple(curves)
        if not curves:
            msg = f"Expected at least one curve from {CURVES}"
            raise ValueError(msg)
        for curve in curves:
            _check_curve(curve)
        if len(set(curves)) != len(curves):
            msg = f"Expected distinct curves (got {curves})"
            raise ValueError(msg)
        self.curves = curves
        self.depth = depth

    def forward(self, data: Data) -> Data:
        pos = getattr(data, "pos", None) if isinstance(data, Data) else None
        if pos is None:
            msg = "Serialize needs a 'pos' tensor of shape [num_nodes, 2 or 3] on a Data graph"
            raise ValueError(msg)
        batch = getattr(data, "batch", None)  # a Batch serializes as a whole
        _check_pos_batch(pos, batch)
        dim = pos.shape[1]
        num_graphs = _num_graphs(data, batch)
        depth = default_depth(dim) if self.depth is None else self.depth
        _check_budget(depth, dim, num_graphs)
        grid = _quantize(pos, batch, depth, num_graphs)
        low = (1 << (depth * dim)) - 1
        for curve in self.curves:
            s = _serialize_grid(grid, batch, curve, depth, num_graphs)
            code_key, order_key, inverse_key = serialization_keys(curve)
            data[code_key] = s.code.bitwise_and_(low)
            data[order_key] = s.order
            data[inverse_key] = s.inverse
        data[DEPTH_KEY] = torch.full((num_graphs,), depth, dtype=torch.long, device=pos.device)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(curves={self.curves}, depth={self.depth})"


def get_serialization(
    data: Data, curve: str = "hilbert", *, depth: int | None = None
) -> Serialization:
    """The :class:`~meshfield.serialize.Serialization` of a graph or batch for one curve.

    Reads what :class:`Serialize` stored when it is there (and was made with ``depth``, if
    given); otherwise computes it with :func:`~meshfield.serialize.serialize` from ``data.pos``
    and ``data.batch``.

    Parameters
    ----------
    data : torch_geometric.data.Data
        A graph or a :class:`~torch_geometric.data.Batch` with ``pos``.
    curve : str, default: "hilbert"
        One of :data:`~meshfield.serialize.CURVES`.
    depth : int, optional
        Bits per axis; default: the stored depth, or :func:`~meshfield.serialize.default_depth`.

    Returns
    -------
    Serialization
        The same as ``serialize(data.pos, data.batch, curve, depth)``.
    """
    _check_curve(curve)
    code_key, order_key, inverse_key = serialization_keys(curve)
    pos = getattr(data, "pos", None)
    batch = getattr(data, "batch", None)
    stored = order_key in data and inverse_key in data and code_key in data and DEPTH_KEY in data
    if stored:
        depths: Tensor = data[DEPTH_KEY]
        stored_depth = int(depths[0])
        if not bool((depths == stored_depth).all()):
            if depth is None:
                msg = (
                    f"The graphs of this batch were serialized with different depths "
                    f"({sorted(set(depths.tolist()))}); pass 'depth' to recompute with one"
                )
                raise ValueError(msg)
            stored = False
        elif depth is not None and depth != stored_depth:
            stored = False
    if not stored:
        if pos is None:
            msg = "Expected a 'pos' tensor on the graph to serialize it"
            raise ValueError(msg)
        num_graphs = _num_graphs(data, batch) if batch is not None else None
        return serialize(pos, batch, curve, depth, num_graphs=num_graphs)

    code = data[code_key]
    num_graphs = _num_graphs(data, batch)
    if batch is not None and num_graphs > 1:
        if pos is None:
            msg = "Expected a 'pos' tensor on the batch to pack graph indices into the codes"
            raise ValueError(msg)
        dim = pos.shape[1]
        _check_budget(stored_depth, dim, num_graphs)
        code = code | (batch.long() << (stored_depth * dim))
    return Serialization(
        code=code,
        order=data[order_key],
        inverse=data[inverse_key],
        curve=curve,
        depth=stored_depth,
    )
