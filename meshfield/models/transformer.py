"""A plain transformer on mesh nodes: no serialization, no Mamba."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from meshfield.models.base import FieldModel, MeshContext
from meshfield.models.config import TransformerConfig
from meshfield.nn.attention import FullAttention, LinearAttention
from meshfield.nn.backbone import HybridBlock
from meshfield.nn.encoder import NodeEncoder

__all__ = ["Transformer"]


class Transformer(FieldModel):
    r"""Attention over all nodes of each mesh, in the harness of :class:`~meshfield.models.HMT`.

    Nodes are encoded like HMT's (positions with Fourier features, boundary tags, frames,
    conditions; by default without message passing), then ``num_layers`` pre-norm blocks of
    global attention and an MLP mix them, each block modulated by adaLN-Zero on the embedded
    conditions. Attention is Galerkin linear attention (:class:`~meshfield.nn.LinearAttention`,
    linear in :math:`N`) or, for small meshes, softmax attention
    (:class:`~meshfield.nn.FullAttention`). No space-filling curves, no state-space mixers and
    no temporal latent (``state`` stays ``None``).

    Parameters
    ----------
    config : TransformerConfig, optional
        The configuration; required unless ``field_names`` is among ``options``.
    **options
        Fields that replace those of ``config`` (or build one).

    Shapes
    ------
    As :class:`~meshfield.models.HMT`.

    References
    ----------
    .. [1] S. Cao, "Choose a Transformer: Fourier or Galerkin", NeurIPS 2021.
    .. [2] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    .. [3] W. Peebles and S. Xie, "Scalable Diffusion Models with Transformers" (DiT),
       ICCV 2023.

    Example
    -------
    >>> from meshfield.models import Transformer
    >>> Transformer(field_names=("p",), width=16, num_layers=2)
    Transformer(fields=['p'], cond=[], width=16, history=1, attention='linear', num_layers=2)
    """

    kind = "transformer"
    config: TransformerConfig

    def __init__(self, config: TransformerConfig | None = None, **options: Any) -> None:
        if config is None:
            config = TransformerConfig(**options)
        elif options:
            from dataclasses import replace

            config = replace(config, **options)
        if not isinstance(config, TransformerConfig):
            msg = f"Expected a TransformerConfig (got {type(config).__name__})"
            raise TypeError(msg)
        super().__init__(config, config.width)
        enc = config.encoder
        num_cond = len(config.cond_names)
        width = config.width
        self.encoder = NodeEncoder(
            self.input_channels,
            width,
            dim=config.dim,
            num_cond=num_cond,
            position=enc.position,
            fourier_features=enc.fourier_features,
            num_boundary_tags=enc.num_boundary_tags,
            message_passing=enc.message_passing,
        )
        self.cond_embedding = (
            nn.Sequential(
                nn.Linear(num_cond, width), nn.SiLU(), nn.Linear(width, width)
            )
            if num_cond
            else None
        )

        def mixer() -> nn.Module:
            if config.attention == "linear":
                return LinearAttention(width, config.num_heads)
            return FullAttention(width, config.num_heads)

        self.blocks = nn.ModuleList(
            HybridBlock(
                mixer(),
                width,
                cond_channels=width if num_cond else 0,
                mlp_ratio=config.mlp_ratio,
            )
            for _ in range(config.num_layers)
        )

    @classmethod
    def config_class(cls) -> type:
        return TransformerConfig

    def process(
        self,
        context: MeshContext,
        inputs: Tensor,
        cond: Tensor | None,
        state: Tensor | None,
    ) -> tuple[Tensor, Tensor | None]:
        """Encode and attend: tokens ``[N, W]`` (state unchanged)."""
        h = self.encoder(
            inputs,
            context.pos_normalized,
            context.boundary,
            context.edge_index,
            cond,
            context.batch,
        )
        conditioning = (
            self.cond_embedding(cond) if self.cond_embedding is not None else None
        )
        for block in self.blocks:
            h = block(h, context.batch, conditioning)
        return h, state

    def __repr__(self) -> str:
        return (
            f"{super().__repr__()[:-1]}, attention={self.config.attention!r}, "
            f"num_layers={self.config.num_layers})"
        )
