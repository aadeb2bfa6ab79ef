"""MeshGraphNet baseline: encode-process-decode with edge and node latents."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.nn import MessagePassing

from meshfield._chunks import spans
from meshfield.models.base import FieldModel, MeshContext
from meshfield.models.config import MeshGraphNetConfig
from meshfield.nn.encoder import NodeEncoder, edge_geometry

__all__ = ["GraphNetBlock", "MeshGraphNet"]

#: edges per chunk of the processor's edge MLP: temporaries of a few MB that the allocator
#: reuses from chunk to chunk (1M-edge chunks made a 30k-node training step 2x slower and its
#: peak memory 2x larger)
DEFAULT_PROCESSOR_EDGE_CHUNK = 32768


def _mlp(
    in_channels: int, width: int, layers: int, *, norm: bool = True
) -> nn.Sequential:
    modules: list[nn.Module] = []
    size = in_channels
    for _ in range(layers):
        modules += [nn.Linear(size, width), nn.ReLU()]
        size = width
    modules.append(nn.Linear(size, width))
    if norm:
        modules.append(nn.LayerNorm(width))
    return nn.Sequential(*modules)


def _reset(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.LayerNorm | nn.Embedding):
            layer.reset_parameters()


class GraphNetBlock(MessagePassing):
    r"""One message-passing step of MeshGraphNets, with residual edge and node updates.

    .. math::
        \mathbf{e}_{ij} &\leftarrow \mathbf{e}_{ij} + \mathrm{MLP}_e(\mathbf{e}_{ij},
            \mathbf{h}_i, \mathbf{h}_j), \\
        \mathbf{h}_i &\leftarrow \mathbf{h}_i + \mathrm{MLP}_n\big(\mathbf{h}_i,
            \textstyle\sum_{j} \mathbf{e}_{ij}\big)

    Both MLPs end in a LayerNorm. Edges are updated in chunks of ``edge_chunk`` (exact; it
    bounds the temporary activations of large meshes).

    Parameters
    ----------
    width : int
        Latent size of nodes and edges.
    mlp_layers : int, default: 2
        Hidden layers per MLP.
    edge_chunk : int, default: 32768
        Edges per chunk.

    Shapes
    ------
    - **input:** nodes :math:`(N, W)`, edges :math:`(E, W)`, edge index :math:`(2, E)`
    - **output:** nodes :math:`(N, W)`, edges :math:`(E, W)`

    References
    ----------
    .. [1] T. Pfaff et al., "Learning Mesh-Based Simulation with Graph Networks", ICLR 2021.
    """

    def __init__(
        self,
        width: int,
        mlp_layers: int = 2,
        *,
        edge_chunk: int = DEFAULT_PROCESSOR_EDGE_CHUNK,
    ) -> None:
        super().__init__(aggr="sum")
        self.width = width
        self.edge_chunk = edge_chunk
        self.edge_mlp = _mlp(3 * width, width, mlp_layers)
        self.node_mlp = _mlp(2 * width, width, mlp_layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize both MLPs."""
        _reset(self)

    def forward(
        self, h: Tensor, e: Tensor, edge_index: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Update edges, then nodes (see the class docstring)."""
        num_nodes = h.size(0)
        chunks = [
            self.edge_updater(
                edge_index[:, part], h=h, e=e[part], size=(num_nodes, num_nodes)
            )
            for part in spans(edge_index.size(1), self.edge_chunk)
        ]
        e = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=0)
        aggregated = self.propagate(edge_index, e=e, size=(num_nodes, num_nodes))
        return h + self.node_mlp(torch.cat([h, aggregated], dim=-1)), e

    def edge_update(self, e: Tensor, h_i: Tensor, h_j: Tensor) -> Tensor:
        return e + self.edge_mlp(torch.cat([e, h_i, h_j], dim=-1))

    def message(self, e: Tensor) -> Tensor:
        return e

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.width})"


class MeshGraphNet(FieldModel):
    r"""MeshGraphNets (encode-process-decode) in the harness of :class:`~meshfield.models.HMT`.

    The node encoder reads the boundary-tag embedding, the normalized input frames and the
    conditions (no absolute positions by default, as in Pfaff et al.); the edge encoder reads
    the relative positions :math:`(\mathbf{x}_j - \mathbf{x}_i, \lVert\mathbf{x}_j -
    \mathbf{x}_i\rVert)`; ``num_layers`` :class:`GraphNetBlock` steps (15 by default) update
    edge and node latents with residual MLPs ending in LayerNorm; the node decoder predicts
    the normalized increment of every field. There is no temporal latent (``state`` stays
    ``None``). Same step, rollout, initial-frame and query API as HMT.

    Parameters
    ----------
    config : MeshGraphNetConfig, optional
        The configuration; required unless ``field_names`` is among ``options``.
    **options
        Fields that replace those of ``config`` (or build one).

    Shapes
    ------
    As :class:`~meshfield.models.HMT`.

    References
    ----------
    .. [1] T. Pfaff, M. Fortunato, A. Sanchez-Gonzalez and P. Battaglia, "Learning Mesh-Based
       Simulation with Graph Networks", ICLR 2021.

    Example
    -------
    >>> from meshfield.models import MeshGraphNet
    >>> MeshGraphNet(field_names=("p",), width=16, num_layers=2)
    MeshGraphNet(fields=['p'], cond=[], width=16, history=1, num_layers=2)
    """

    kind = "meshgraphnet"
    config: MeshGraphNetConfig

    def __init__(
        self, config: MeshGraphNetConfig | None = None, **options: Any
    ) -> None:
        if config is None:
            config = MeshGraphNetConfig(**options)
        elif options:
            from dataclasses import replace

            config = replace(config, **options)
        if not isinstance(config, MeshGraphNetConfig):
            msg = f"Expected a MeshGraphNetConfig (got {type(config).__name__})"
            raise TypeError(msg)
        super().__init__(config, config.width)
        enc = config.encoder
        self.encoder = NodeEncoder(
            self.input_channels,
            config.width,
            dim=config.dim,
            num_cond=len(config.cond_names),
            position=enc.position,
            fourier_features=enc.fourier_features,
            num_boundary_tags=enc.num_boundary_tags,
            message_passing=enc.message_passing,
        )
        self.edge_encoder = _mlp(config.dim + 1, config.width, config.mlp_layers)
        self.processor = nn.ModuleList(
            GraphNetBlock(config.width, config.mlp_layers)
            for _ in range(config.num_layers)
        )

    @classmethod
    def config_class(cls) -> type:
        return MeshGraphNetConfig

    def process(
        self,
        context: MeshContext,
        inputs: Tensor,
        cond: Tensor | None,
        state: Tensor | None,
    ) -> tuple[Tensor, Tensor | None]:
        """Encode nodes and edges, run the processor: tokens ``[N, W]`` (state unchanged)."""
        h = self.encoder(
            inputs,
            context.pos_normalized,
            context.boundary,
            context.edge_index,
            cond,
            context.batch,
            geometry=context.extra.get("geometry"),
        )
        geometry = context.extra.get("geometry")
        if geometry is None:
            geometry = edge_geometry(context.pos_normalized, context.edge_index)
        e = self.edge_encoder(geometry.features)
        recompute = self.config.checkpoint and torch.is_grad_enabled()
        for block in self.processor:
            if recompute:
                h, e = checkpoint(block, h, e, context.edge_index, use_reentrant=False)
            else:
                h, e = block(h, e, context.edge_index)
        return h, state

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, num_layers={self.config.num_layers})"
