"""HMT: the hybrid Mamba-Transformer field model."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from meshfield.models.base import FieldModel, MeshContext
from meshfield.models.config import HMTConfig
from meshfield.nn.backbone import HybridBackbone
from meshfield.nn.encoder import NodeEncoder
from meshfield.nn.temporal import TemporalLatent

__all__ = ["HMT"]


class HMT(FieldModel):
    r"""Hybrid Mamba-Transformer model of spatiotemporal fields on unstructured meshes.

    One step maps the last ``history`` frames :math:`\mathbf{u}^{t-h+1:t}` on a mesh, its
    conditions :math:`\mathbf{k}` and a temporal latent state :math:`\mathbf{s}_{t-1}` to
    the next frame:

    1. **encoder** (:class:`~meshfield.nn.NodeEncoder`): a per-node MLP on the normalized
       position with Fourier features, the boundary-tag embedding, the normalized frames and
       conditions, then message passing over the mesh edges with relative-position features;
    2. **temporal latent** (:class:`~meshfield.nn.TemporalLatent`): the tokens are pooled
       per graph and advance a selective state-space recurrence in time,
       :math:`\mathbf{s}_t = \bar{\mathbf{a}}(\mathbf{z}_t) \odot \mathbf{s}_{t-1} +
       \mathbf{b}(\mathbf{z}_t)`, which keeps memory beyond the input window;
    3. **backbone** (:class:`~meshfield.nn.HybridBackbone`): bidirectional Mamba and
       attention blocks over space-filling-curve orders (the curve changes from block to
       block), every block modulated by adaLN-Zero on
       :math:`\mathbf{c} = \mathrm{MLP}(\hat{\mathbf{k}}) + \mathrm{out}(\mathbf{s}_t)`;
    4. **node decoder**: tokens back in node order to the normalized increment
       :math:`\widehat{\Delta \mathbf{u}}` of every field;
    5. **point-query decoder** (:meth:`query`): fields at any coordinates, smooth in them.

    With no input frame, an initial head decodes the first frame from the mesh and the
    conditions (:meth:`initial`); :meth:`rollout` then continues from it. Inputs and outputs
    are physical; the :class:`~meshfield.models.Normalizer` in ``normalizer`` (saved with the
    model) handles the normalization.

    Parameters
    ----------
    config : HMTConfig, optional
        The configuration; required unless ``field_names`` is among ``options``.
    **options
        Fields that replace those of ``config`` (or build one), e.g.
        ``HMT(field_names=("u", "v"), cond_names=("Re",))``.

    Shapes
    ------
    - **input:** a graph with ``pos [N, d]``, ``edge_index [2, E]``, ``boundary [N]``,
      frames ``[h, N, C]``, conditions ``[B, K]``, state ``[B, S]``
    - **output:** :class:`~meshfield.models.StepOutput` with ``fields, delta [N, C]``,
      ``state [B, S]``, ``node_features [N, D]``

    References
    ----------
    .. [1] P. Du et al., "Spatiotemporal Field Generation Based on Hybrid Mamba-Transformer
       with Physics-informed Fine-tuning" (HMT-PF), arXiv:2505.11578, 2025.
    .. [2] T. Dao and A. Gu, "Transformers are SSMs" (Mamba-2), ICML 2024.
    .. [3] W. Peebles and S. Xie, "Scalable Diffusion Models with Transformers" (DiT),
       ICCV 2023.
    .. [4] X. Wu et al., "Point Transformer V3", CVPR 2024.
    .. [5] T. Pfaff et al., "Learning Mesh-Based Simulation with Graph Networks", ICLR 2021.

    Example
    -------
    >>> import torch
    >>> from meshfield.data import mesh_graph
    >>> from meshfield.models import HMT
    >>> from meshfield.nn import BackboneConfig
    >>> g = mesh_graph([[0, 0], [1, 0], [1, 1], [0, 1]], {"triangle": [[0, 1, 2], [0, 2, 3]]},
    ...                fields=torch.randn(2, 4, 1), field_names=["T"], cond={"Re": 100.0})
    >>> model = HMT(field_names=("T",), cond_names=("Re",),
    ...             backbone=BackboneConfig(d_model=16, pattern="MA", patch_size=8,
    ...                                     num_heads=2, mamba={"headdim": 8}))
    >>> model(g).fields.shape
    torch.Size([4, 1])
    >>> model.rollout(g, steps=3).shape  # generated first frame + 3 steps
    torch.Size([4, 4, 1])
    """

    kind = "hmt"
    config: HMTConfig

    def __init__(self, config: HMTConfig | None = None, **options: Any) -> None:
        if config is None:
            config = HMTConfig(**options)
        elif options:
            from dataclasses import replace

            config = replace(config, **options)
        if not isinstance(config, HMTConfig):
            msg = f"Expected an HMTConfig (got {type(config).__name__})"
            raise TypeError(msg)
        width = config.width
        super().__init__(config, width)
        enc = config.encoder
        self.encoder = NodeEncoder(
            self.input_channels,
            width,
            dim=config.dim,
            num_cond=len(config.cond_names),
            position=enc.position,
            fourier_features=enc.fourier_features,
            num_boundary_tags=enc.num_boundary_tags,
            message_passing=enc.message_passing,
        )
        self.temporal = (
            TemporalLatent(width, config.d_latent) if config.d_latent > 0 else None
        )
        num_cond = len(config.cond_names)
        self.cond_embedding = (
            nn.Sequential(
                nn.Linear(num_cond, width), nn.SiLU(), nn.Linear(width, width)
            )
            if num_cond
            else None
        )
        self.backbone = HybridBackbone(config.backbone)

    @classmethod
    def config_class(cls) -> type:
        return HMTConfig

    def _prepare_extra(self, context: MeshContext) -> None:
        # the curve orders, patches and gathers depend on the mesh only: once per rollout
        context.extra["plan"] = self.backbone.plan(context.pos, context.batch)

    @property
    def has_state(self) -> bool:
        return self.temporal is not None

    def advance_state(
        self,
        context: MeshContext,
        inputs: Tensor,
        cond: Tensor | None,
        state: Tensor | None,
    ) -> Tensor | None:
        """The new temporal state: it reads the encoder's tokens only, so the backbone is skipped."""
        if self.temporal is None:
            return None
        h = self._encode(context, inputs, cond)
        return self.temporal(h, context.batch, state, num_graphs=context.num_graphs)[1]

    def _encode(self, context: MeshContext, inputs: Tensor, cond: Tensor | None) -> Tensor:
        return self.encoder(
            inputs,
            context.pos_normalized,
            context.boundary,
            context.edge_index,
            cond,
            context.batch,
            geometry=context.extra.get("geometry"),
        )

    def process(
        self,
        context: MeshContext,
        inputs: Tensor,
        cond: Tensor | None,
        state: Tensor | None,
    ) -> tuple[Tensor, Tensor | None]:
        """Encoder, temporal latent and backbone: tokens ``[N, D]`` and the new state."""
        h = self._encode(context, inputs, cond)
        conditioning = None
        if self.temporal is not None:
            conditioning, state = self.temporal(
                h, context.batch, state, num_graphs=context.num_graphs
            )
        if self.cond_embedding is not None:
            embedded = self.cond_embedding(cond)
            conditioning = embedded if conditioning is None else conditioning + embedded
        h = self.backbone(
            h,
            context.pos,
            context.batch,
            conditioning,
            plan=context.extra.get("plan"),
        )
        return h, state

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"{self.__class__.__name__}(fields={list(cfg.field_names)}, "
            f"cond={list(cfg.cond_names)}, width={cfg.width}, pattern={cfg.backbone.pattern!r}, "
            f"d_latent={cfg.d_latent}, history={cfg.history})"
        )
