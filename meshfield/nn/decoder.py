"""Decoders: tokens to fields at the mesh nodes, and to fields at arbitrary query points."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["NodeDecoder", "PointQueryDecoder", "knn_indices"]


class NodeDecoder(nn.Module):
    r"""Fields at the mesh nodes from their tokens: :math:`\mathbf{y}_i = \mathrm{MLP}(\mathrm{LN}(\mathbf{h}_i))`.

    Parameters
    ----------
    channels : int
        Token width :math:`D`.
    out_channels : int
        Output channels :math:`C`.
    hidden : int, optional
        Hidden width; default: ``channels``.

    Shapes
    ------
    - **input:** :math:`(N, D)`
    - **output:** :math:`(N, C)`

    Example
    -------
    >>> import torch
    >>> NodeDecoder(32, 3)(torch.randn(10, 32)).shape
    torch.Size([10, 3])
    """

    def __init__(
        self, channels: int, out_channels: int, *, hidden: int | None = None
    ) -> None:
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels
        self.hidden = hidden or channels
        self.norm = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, self.hidden),
            nn.SiLU(),
            nn.Linear(self.hidden, out_channels),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize the norm and the MLP."""
        self.norm.reset_parameters()
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        """Decode tokens ``[N, D]`` to ``[N, C]``."""
        return self.mlp(self.norm(h))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, {self.out_channels}, hidden={self.hidden})"


def knn_indices(
    query: Tensor,
    pos: Tensor,
    k: int,
    batch: Tensor | None = None,
    query_batch: Tensor | None = None,
) -> Tensor:
    """Indices of the ``k`` nearest nodes of each query point, within its own graph.

    Found with :class:`scipy.spatial.cKDTree` on detached float64 copies (no gradient flows
    through the choice of neighbours), nearest first.

    Parameters
    ----------
    query : torch.Tensor
        Query points, shape ``[Q, d]``.
    pos : torch.Tensor
        Node positions, shape ``[N, d]``.
    k : int
        Neighbours per query; every graph needs at least ``k`` nodes.
    batch, query_batch : torch.Tensor, optional
        Graph index of every node / query point; default: one graph.

    Returns
    -------
    torch.Tensor
        int64 node indices, shape ``[Q, k]``, on the device of ``pos``.
    """
    from scipy.spatial import cKDTree

    nodes = pos.detach().cpu().double().numpy()
    points = query.detach().cpu().double().numpy()
    out = np.empty((points.shape[0], k), dtype=np.int64)
    if batch is None:
        groups = [(np.arange(nodes.shape[0]), np.arange(points.shape[0]))]
    else:
        node_graph = batch.detach().cpu().numpy()
        point_graph = (
            np.zeros(points.shape[0], dtype=np.int64)
            if query_batch is None
            else query_batch.detach().cpu().numpy()
        )
        groups = [
            (np.flatnonzero(node_graph == g), np.flatnonzero(point_graph == g))
            for g in np.unique(point_graph)
        ]
    for node_ids, point_ids in groups:
        if point_ids.size == 0:
            continue
        if node_ids.size < k:
            msg = f"Expected at least {k} nodes in every queried graph (got {node_ids.size})"
            raise ValueError(msg)
        _, found = cKDTree(nodes[node_ids]).query(points[point_ids], k=k)
        out[point_ids] = node_ids[np.asarray(found).reshape(point_ids.size, k)]
    return torch.from_numpy(out).to(pos.device)


class PointQueryDecoder(nn.Module):
    r"""Fields at arbitrary points, smooth in the query coordinates.

    A query point :math:`\mathbf{q}` reads its :math:`k` nearest nodes :math:`j` (found
    without gradient, :func:`knn_indices`) and blends per-node values with compactly supported
    weights,

    .. math::
        \mathbf{f}(\mathbf{q}) = \frac{\sum_j w_j\, \big(\mathbf{y}_j
            + \mathrm{MLP}(\mathbf{h}_j, (\mathbf{q} - \mathbf{x}_j) / R)\big)}{\sum_j w_j},
        \qquad w_j = \big(1 - \lVert \mathbf{q} - \mathbf{x}_j \rVert^2 / R^2\big)^3,

    where :math:`R = \lVert \mathbf{q} - \mathbf{x}_{(k+1)} \rVert` is the distance to the
    next-nearest node, :math:`\mathbf{h}_j` the node tokens and :math:`\mathbf{y}_j` optional
    base values (e.g. the nodal prediction, so an untrained correction MLP interpolates it).
    A node enters or leaves the neighbourhood exactly where its weight is zero, so
    :math:`\mathbf{f}` is continuous in :math:`\mathbf{q}`, and smooth (SiLU MLP, polynomial
    weights) between such changes: ``torch.autograd.grad`` with ``create_graph=True`` gives
    first and second derivatives for PDE residuals.

    Parameters
    ----------
    channels : int
        Token width :math:`D`.
    out_channels : int
        Output channels :math:`C`.
    dim : int, default: 2
        Spatial dimension :math:`d`.
    k : int, default: 8
        Nodes per query (every queried graph needs ``k + 1`` nodes).
    hidden : int, default: 64
        Hidden width of the MLP.

    Shapes
    ------
    - **input:** queries :math:`(Q, d)`, tokens :math:`(N, D)`, positions :math:`(N, d)`,
      base values :math:`(N, C)`, graph indices :math:`(N)` and :math:`(Q)`
    - **output:** :math:`(Q, C)`

    References
    ----------
    .. [1] H. Wendland, "Piecewise polynomial, positive definite and compactly supported radial
       functions of minimal degree", Adv. Comput. Math. 4, 1995.
    .. [2] HMT-PF: P. Du et al., "Spatiotemporal Field Generation Based on Hybrid
       Mamba-Transformer with Physics-informed Fine-tuning", arXiv:2505.11578, 2025.

    Example
    -------
    >>> import torch
    >>> dec = PointQueryDecoder(16, 2, k=4)
    >>> q = torch.rand(5, 2, requires_grad=True)
    >>> dec(q, torch.randn(30, 16), torch.rand(30, 2)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        channels: int,
        out_channels: int,
        *,
        dim: int = 2,
        k: int = 8,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        if k < 1:
            msg = f"'k' must be positive (got {k})"
            raise ValueError(msg)
        self.channels = channels
        self.out_channels = out_channels
        self.dim = dim
        self.k = k
        self.hidden = hidden
        self.token_proj = nn.Linear(channels, hidden)
        self.offset_proj = nn.Linear(dim, hidden, bias=False)
        self.mlp = nn.Sequential(
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, out_channels),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize the projections and the MLP."""
        self.token_proj.reset_parameters()
        self.offset_proj.reset_parameters()
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(
        self,
        query: Tensor,
        h: Tensor,
        pos: Tensor,
        *,
        values: Tensor | None = None,
        batch: Tensor | None = None,
        query_batch: Tensor | None = None,
    ) -> Tensor:
        """Fields at ``query``.

        Parameters
        ----------
        query : torch.Tensor
            Query points, shape ``[Q, d]`` (may require grad).
        h : torch.Tensor
            Node tokens, shape ``[N, D]``.
        pos : torch.Tensor
            Node positions in the frame of ``query``, shape ``[N, d]``.
        values : torch.Tensor, optional
            Base values per node, shape ``[N, C]``; default: none (zero).
        batch, query_batch : torch.Tensor, optional
            Graph index of every node / query; default: one graph.

        Returns
        -------
        torch.Tensor
            Shape ``[Q, C]``.
        """
        if query.dim() != 2 or query.size(1) != self.dim:
            msg = f"Expected 'query' tensor with shape [num_queries, {self.dim}] (got {list(query.shape)})"
            raise ValueError(msg)
        if batch is None:
            smallest = h.size(0)
        else:
            counts = torch.bincount(batch)
            smallest = int(counts[counts > 0].min())
            if query_batch is None and int(batch.max()) > 0:
                msg = (
                    "'query_batch' is required when the nodes belong to several graphs"
                )
                raise ValueError(msg)
        k = min(self.k, smallest - 1)
        if k < 1:
            msg = "Point queries need graphs of at least 2 nodes"
            raise ValueError(msg)
        index = knn_indices(query, pos, k + 1, batch, query_batch)  # [Q, k + 1]
        near, outer = index[:, :k], index[:, k]
        offset = query.unsqueeze(1) - pos[near]  # [Q, k, d]
        radius = (
            (query - pos[outer]).norm(dim=-1, keepdim=True).clamp(min=1e-12)
        )  # [Q, 1]
        scaled = offset / radius.unsqueeze(-1)
        weight = (1 - scaled.square().sum(-1)).clamp(min=0).pow(3)  # [Q, k]
        per_node = self.mlp(
            self.token_proj(h)[near] + self.offset_proj(scaled)
        )  # [Q, k, C]
        if values is not None:
            per_node = per_node + values[near]
        total = weight.sum(-1, keepdim=True).clamp(min=1e-12)
        return (weight.unsqueeze(-1) * per_node).sum(1) / total

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, {self.out_channels}, dim={self.dim}, "
            f"k={self.k})"
        )
