"""Node encoder: per-node inputs to tokens, then message passing over the mesh edges."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.utils import degree

from meshfield._chunks import spans

__all__ = [
    "EdgeGeometry",
    "MeshConv",
    "NodeEncoder",
    "edge_geometry",
    "fourier_features",
    "message_sum",
    "relative_position",
]

#: edges per chunk of a message-passing layer (bounds the edge activations of large meshes)
DEFAULT_EDGE_CHUNK = 1 << 20

#: edges per block of :func:`message_sum`: a block's ``[edges, channels]`` activations stay
#: in the processor's cache between the operations on them
MESSAGE_BLOCK = 4096


def fourier_features(pos: Tensor, num_frequencies: int) -> Tensor:
    r"""``sin`` and ``cos`` of :math:`2^k \pi x` per axis, :math:`k = 0, \ldots, F-1`.

    Parameters
    ----------
    pos : torch.Tensor
        Normalized positions (about :math:`[-1, 1]`), shape ``[N, d]``.
    num_frequencies : int
        :math:`F`.

    Returns
    -------
    torch.Tensor
        Shape ``[N, 2 d F]``.
    """
    if num_frequencies == 0:
        return pos.new_zeros(pos.size(0), 0)
    freqs = math.pi * 2.0 ** torch.arange(
        num_frequencies, device=pos.device, dtype=pos.dtype
    )
    angles = (pos.unsqueeze(-1) * freqs).flatten(1)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def relative_position(pos_i: Tensor, pos_j: Tensor) -> Tensor:
    """Edge features ``[x_j - x_i, |x_j - x_i|]``, shape ``[E, d + 1]``."""
    rel = pos_j - pos_i
    return torch.cat([rel, rel.norm(dim=-1, keepdim=True)], dim=-1)


class EdgeGeometry(NamedTuple):
    """What message passing needs of a mesh besides its features (see :func:`edge_geometry`)."""

    #: ``[E, d + 1]`` relative positions of the edges and their lengths
    features: Tensor
    #: ``[N, 1]`` one over the number of incoming edges (1 for a node without any)
    inverse_degree: Tensor
    #: ``[N, 1]`` 1 for a node with incoming edges, else 0
    has_neighbours: Tensor


def edge_geometry(pos: Tensor, edge_index: Tensor) -> EdgeGeometry:
    """The per-mesh inputs of :class:`MeshConv`: compute once, reuse for every step.

    Parameters
    ----------
    pos : torch.Tensor
        Node positions ``[N, d]`` (as the layers see them, e.g. normalized).
    edge_index : torch.Tensor
        ``[2, E]``, messages flow from ``edge_index[0]`` to ``edge_index[1]``.

    Returns
    -------
    EdgeGeometry
    """
    src, dst = edge_index
    count = degree(dst, pos.size(0), dtype=pos.dtype).unsqueeze(-1)
    return EdgeGeometry(
        features=relative_position(pos[dst], pos[src]),
        inverse_degree=1.0 / count.clamp(min=1),
        has_neighbours=(count > 0).to(pos.dtype),
    )


def _message_block(
    target: Tensor, source: Tensor, features: Tensor, weight: Tensor, src: Tensor, dst: Tensor
) -> Tensor:
    """Pre-activations ``a[dst] + features @ weight.T + c[src]`` of one block of edges."""
    z = torch.addmm(target.index_select(0, dst), features, weight.t())
    return z.add_(source.index_select(0, src))


class _MessageSum(torch.autograd.Function):
    """:func:`message_sum` in blocks of edges; saves its inputs, recomputes the activations."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: object,
        target: Tensor,
        source: Tensor,
        weight: Tensor,
        features: Tensor,
        edge_index: Tensor,
        block: int,
    ) -> Tensor:
        src, dst = edge_index
        out = target.new_zeros(target.shape)
        for part in spans(src.numel(), block):
            z = _message_block(target, source, features[part], weight, src[part], dst[part])
            out.index_add_(0, dst[part], torch.nn.functional.silu(z))
        ctx.save_for_backward(target, source, weight, features, edge_index)  # type: ignore[attr-defined]
        ctx.block = block  # type: ignore[attr-defined]
        return out

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        target, source, weight, features, edge_index = ctx.saved_tensors  # type: ignore[attr-defined]
        block = ctx.block  # type: ignore[attr-defined]
        needs = ctx.needs_input_grad  # type: ignore[attr-defined]
        src, dst = edge_index
        grad_target = torch.zeros_like(target) if needs[0] else None
        grad_source = torch.zeros_like(source) if needs[1] else None
        # transposed, [F, D]: a product with few output rows and many columns runs several
        # times faster on CPUs than its transpose ([D, F] from [D, block] x [block, F])
        grad_weight_t = weight.new_zeros(weight.t().shape) if needs[2] else None
        # in place, unless this backward pass is itself differentiated (create_graph)
        differentiable = torch.is_grad_enabled()
        for part in spans(src.numel(), block):
            s, d, f = src[part], dst[part], features[part]
            z = _message_block(target, source, f, weight, s, d)
            if differentiable:
                sigmoid = torch.sigmoid(z)
                # silu'(z) = sigmoid(z) (1 + z (1 - sigmoid(z))), in operations autograd can
                # differentiate (it has no derivative of silu_backward)
                dz = grad.index_select(0, d) * (sigmoid * (1 + z * (1 - sigmoid)))
                if grad_target is not None:
                    grad_target = grad_target.index_add(0, d, dz)
                if grad_source is not None:
                    grad_source = grad_source.index_add(0, s, dz)
                if grad_weight_t is not None:
                    grad_weight_t = torch.addmm(grad_weight_t, f.t(), dz)
                continue
            dz = torch.ops.aten.silu_backward(grad.index_select(0, d), z)
            if grad_target is not None:
                grad_target.index_add_(0, d, dz)
            if grad_source is not None:
                grad_source.index_add_(0, s, dz)
            if grad_weight_t is not None:
                grad_weight_t.addmm_(f.t(), dz)
        grad_weight = None if grad_weight_t is None else grad_weight_t.t().contiguous()
        return grad_target, grad_source, grad_weight, None, None, None


def message_sum(
    target: Tensor,
    source: Tensor,
    features: Tensor,
    weight: Tensor,
    edge_index: Tensor,
    *,
    block: int = MESSAGE_BLOCK,
) -> Tensor:
    r"""Sum over incoming edges of :math:`\mathrm{SiLU}(a_i + c_j + W e_{ij})`, for every node.

    The first layer of :class:`MeshConv`'s edge MLP and its activation, summed per receiving
    node :math:`i` over the edges :math:`j 	o i` of ``edge_index``. Done edge by edge as
    separate operations, each would read and write an ``[E, D]`` array of memory; here the
    edges go in blocks of ``block``, whose activations stay in the cache, and the backward
    pass recomputes them from the inputs instead of storing them (same values up to the order
    of the sums). Under ``torch.compile``, or when ``features`` needs a gradient, the plain
    operations are used.

    Parameters
    ----------
    target, source : torch.Tensor
        ``[N, D]``: :math:`a` (the receiver's part, bias included) and :math:`c` (the
        sender's part).
    features : torch.Tensor
        ``[E, F]`` edge features :math:`e_{ij}`.
    weight : torch.Tensor
        ``[D, F]`` :math:`W`.
    edge_index : torch.Tensor
        ``[2, E]``: senders ``j`` in row 0, receivers ``i`` in row 1.
    block : int, default: 4096
        Edges per block.

    Returns
    -------
    torch.Tensor
        ``[N, D]``, zero for a node without incoming edges.
    """
    if features.requires_grad or torch.compiler.is_compiling():
        src, dst = edge_index
        z = target[dst] + source[src] + features @ weight.t()
        out = target.new_zeros(target.shape)
        return out.index_add(0, dst, torch.nn.functional.silu(z))
    return _MessageSum.apply(target, source, weight, features, edge_index, block)


def _mlp(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_channels, hidden), nn.SiLU(), nn.Linear(hidden, out_channels)
    )


def _reset(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.LayerNorm | nn.Embedding):
            layer.reset_parameters()


class MeshConv(nn.Module):
    r"""Residual message passing over mesh edges with relative-position edge features.

    .. math::
        \mathbf{m}_{ij} = \mathrm{MLP}_e\big(\mathbf{h}_i, \mathbf{h}_j, \mathbf{x}_j - \mathbf{x}_i,
            \lVert \mathbf{x}_j - \mathbf{x}_i \rVert\big), \qquad
        \mathbf{h}_i \leftarrow \mathbf{h}_i + \mathrm{MLP}_n\Big(\mathrm{LN}\big(\mathbf{h}_i,
            \tfrac{1}{|\mathcal{N}(i)|} \textstyle\sum_{j \in \mathcal{N}(i)} \mathbf{m}_{ij}\big)\Big)

    The mean over neighbours keeps the layer independent of the mesh resolution. The edge
    MLP's two linear layers are applied per node (its first layer is linear in
    :math:`\mathbf{h}_i` and :math:`\mathbf{h}_j`, and its second commutes with the sum over
    neighbours), so per edge only the activation remains, summed by :func:`message_sum` in
    cache-sized blocks. Edges are processed in chunks of ``edge_chunk`` where the plain
    operations run (under ``torch.compile``), so the edge activations of a large mesh stay
    bounded (the sums over chunks are exact).

    Parameters
    ----------
    channels : int
        Node feature size :math:`D`.
    dim : int, default: 2
        Spatial dimension :math:`d`.
    edge_chunk : int, default: 1048576
        Edges per chunk.

    Shapes
    ------
    - **input:** node features :math:`(N, D)`, positions :math:`(N, d)`, edges :math:`(2, E)`
    - **output:** :math:`(N, D)`

    References
    ----------
    .. [1] T. Pfaff et al., "Learning Mesh-Based Simulation with Graph Networks", ICLR 2021.
    """

    def __init__(
        self, channels: int, dim: int = 2, *, edge_chunk: int = DEFAULT_EDGE_CHUNK
    ) -> None:
        super().__init__()
        self.channels = channels
        self.dim = dim
        self.edge_chunk = edge_chunk
        self.message_mlp = _mlp(2 * channels + dim + 1, channels, channels)
        self.norm = nn.LayerNorm(2 * channels)
        self.update_mlp = _mlp(2 * channels, channels, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize the MLPs and the norm."""
        _reset(self)

    def forward(
        self,
        h: Tensor,
        pos: Tensor,
        edge_index: Tensor,
        *,
        geometry: EdgeGeometry | None = None,
    ) -> Tensor:
        """Update node features from their mesh neighbours (see the class docstring).

        ``geometry`` (:func:`edge_geometry` of ``pos`` and ``edge_index``) skips the per-mesh
        work when the same mesh is stepped many times.
        """
        num_nodes = h.size(0)
        if geometry is None:
            geometry = edge_geometry(pos, edge_index)
        first, _, second = self.message_mlp
        d = self.channels
        # MLP_e's first layer is linear in (h_i, h_j, e_ij): its node parts are applied once
        # per node, not once per edge. Its second layer is linear too, and the sum over
        # neighbours commutes with it: it is applied once per node after the aggregation.
        # Same parameters and values, and per edge only a gather, an add and the activation.
        weight_i, weight_j = first.weight[:, :d], first.weight[:, d : 2 * d]
        weight_e = first.weight[:, 2 * d :]
        target = torch.addmm(first.bias, h, weight_i.t())  # a_i = W_i h_i + b
        source = h @ weight_j.t()  # c_j = W_j h_j
        hidden = h.new_zeros(num_nodes, d)
        for part in spans(edge_index.size(1), self.edge_chunk):
            hidden = hidden + message_sum(
                target, source, geometry.features[part], weight_e, edge_index[:, part]
            )
        # mean message: W_2 (sum_j act(.)) / |N(i)| + b_2 where i has neighbours, else 0
        aggregated = torch.addmm(
            second.bias * geometry.has_neighbours, hidden * geometry.inverse_degree, second.weight.t()
        )
        return h + self.update_mlp(self.norm(torch.cat([h, aggregated], dim=-1)))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, dim={self.dim})"


class NodeEncoder(nn.Module):
    r"""Tokens from per-node inputs, refined by message passing over the mesh edges.

    Each node :math:`i` of graph :math:`g` gets

    .. math::
        \mathbf{h}_i = \mathrm{LN}\Big(\mathrm{MLP}\big(\hat{\mathbf{x}}_i,
            \gamma(\hat{\mathbf{x}}_i), \hat{\mathbf{u}}_i^{t-h+1:t}, \hat{\mathbf{k}}_g\big)
            + \mathbf{E}[b_i]\Big)

    from its normalized position :math:`\hat{\mathbf{x}}_i` with Fourier features
    :math:`\gamma`, its last :math:`h` frames (normalized, flattened, plus any extra input
    channels such as a "frames given" flag), the normalized conditions of its graph and an
    embedding of its boundary tag :math:`b_i`; then ``message_passing`` :class:`MeshConv`
    layers add local geometry through the relative positions of mesh neighbours.

    Parameters
    ----------
    in_channels : int
        Per-node input channels (frames and flags).
    channels : int
        Token width :math:`D`.
    dim : int, default: 2
        Spatial dimension :math:`d`.
    num_cond : int, default: 0
        Conditions :math:`K` per graph.
    position : bool, default: True
        Use the absolute (normalized) positions as inputs.
    fourier_features : int, default: 8
        Frequencies per axis of :func:`fourier_features`.
    num_boundary_tags : int, default: 8
        Rows of the boundary-tag embedding.
    message_passing : int, default: 2
        :class:`MeshConv` layers.

    Shapes
    ------
    - **input:** inputs :math:`(N, C_{in})`, positions :math:`(N, d)`, boundary :math:`(N)`,
      edges :math:`(2, E)`, conditions :math:`(B, K)`, graph index :math:`(N)`
    - **output:** :math:`(N, D)`

    References
    ----------
    .. [1] M. Tancik et al., "Fourier Features Let Networks Learn High Frequency Functions in
       Low Dimensional Domains", NeurIPS 2020.
    .. [2] T. Pfaff et al., "Learning Mesh-Based Simulation with Graph Networks", ICLR 2021.

    Example
    -------
    >>> import torch
    >>> enc = NodeEncoder(3, 32, num_cond=1)
    >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> enc(torch.randn(3, 3), torch.rand(3, 2), torch.zeros(3, dtype=torch.long), edge_index,
    ...     cond=torch.randn(1, 1)).shape
    torch.Size([3, 32])
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        *,
        dim: int = 2,
        num_cond: int = 0,
        position: bool = True,
        fourier_features: int = 8,
        num_boundary_tags: int = 8,
        message_passing: int = 2,
    ) -> None:
        super().__init__()
        if in_channels < 0 or channels < 1 or num_cond < 0 or num_boundary_tags < 1:
            msg = (
                "Expected in_channels >= 0, channels >= 1, num_cond >= 0 and "
                f"num_boundary_tags >= 1 (got {in_channels}, {channels}, {num_cond}, "
                f"{num_boundary_tags})"
            )
            raise ValueError(msg)
        self.in_channels = in_channels
        self.channels = channels
        self.dim = dim
        self.num_cond = num_cond
        self.position = position
        self.num_frequencies = fourier_features if position else 0
        self.num_boundary_tags = num_boundary_tags
        features = (
            in_channels
            + num_cond
            + (dim + 2 * dim * self.num_frequencies if position else 0)
        )
        self.node_mlp = _mlp(max(features, 1), channels, channels)
        self.boundary_embedding = nn.Embedding(num_boundary_tags, channels)
        self.norm = nn.LayerNorm(channels)
        self.convs = nn.ModuleList(
            MeshConv(channels, dim) for _ in range(message_passing)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize every layer."""
        _reset(self)

    def check_boundary(self, boundary: Tensor) -> None:
        """Raise ``ValueError`` for tags the embedding does not cover (call at entry points)."""
        if boundary.numel() and (
            int(boundary.min()) < 0 or int(boundary.max()) >= self.num_boundary_tags
        ):
            msg = (
                f"Boundary tags must be in [0, {self.num_boundary_tags}) (got "
                f"{int(boundary.min())}..{int(boundary.max())}); raise num_boundary_tags"
            )
            raise ValueError(msg)

    def node_features(
        self,
        inputs: Tensor,
        pos: Tensor,
        boundary: Tensor,
        cond: Tensor | None = None,
        batch: Tensor | None = None,
    ) -> Tensor:
        """The per-node MLP (before message passing), shape ``[N, D]``."""
        parts = [inputs]
        if self.position:
            parts += [pos, fourier_features(pos, self.num_frequencies)]
        if self.num_cond:
            if cond is None or cond.dim() != 2 or cond.size(1) != self.num_cond:
                got = None if cond is None else list(cond.shape)
                msg = f"Expected 'cond' tensor with shape [num_graphs, {self.num_cond}] (got {got})"
                raise ValueError(msg)
            parts.append(
                cond.expand(inputs.size(0), -1) if batch is None else cond.index_select(0, batch)
            )
        x = torch.cat(parts, dim=-1)
        if x.size(1) == 0:
            x = x.new_zeros(x.size(0), 1)
        return self.norm(self.node_mlp(x) + self.boundary_embedding(boundary))

    def forward(
        self,
        inputs: Tensor,
        pos: Tensor,
        boundary: Tensor,
        edge_index: Tensor,
        cond: Tensor | None = None,
        batch: Tensor | None = None,
        *,
        geometry: EdgeGeometry | None = None,
    ) -> Tensor:
        """Encode the nodes.

        Parameters
        ----------
        inputs : torch.Tensor
            Per-node inputs (normalized frames, flags), shape ``[N, in_channels]``.
        pos : torch.Tensor
            Normalized positions, shape ``[N, d]``.
        boundary : torch.Tensor
            Boundary tag per node, shape ``[N]``.
        edge_index : torch.Tensor
            Mesh edges (both directions), shape ``[2, E]``.
        cond : torch.Tensor, optional
            Normalized conditions per graph, shape ``[B, K]``; required when ``num_cond > 0``.
        batch : torch.Tensor, optional
            Graph index of every node, shape ``[N]``; default: one graph.
        geometry : EdgeGeometry, optional
            :func:`edge_geometry` of ``pos`` and ``edge_index``, computed once per mesh.

        Returns
        -------
        torch.Tensor
            Tokens in node order, shape ``[N, D]``.
        """
        if inputs.dim() != 2 or inputs.size(1) != self.in_channels:
            msg = (
                f"Expected 'inputs' tensor with shape [num_nodes, {self.in_channels}] "
                f"(got {list(inputs.shape)})"
            )
            raise ValueError(msg)
        h = self.node_features(inputs, pos, boundary, cond, batch)
        if self.convs and geometry is None:
            geometry = edge_geometry(pos, edge_index)
        for conv in self.convs:
            h = conv(h, pos, edge_index, geometry=geometry)
        return h

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.channels}, dim={self.dim}, "
            f"num_cond={self.num_cond}, message_passing={len(self.convs)})"
        )
