"""The hybrid backbone: bidirectional Mamba and attention blocks over serialized mesh nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from meshfield._chunks import spans
from meshfield._config import Config
from meshfield.nn.attention import FullAttention, LinearAttention, PatchAttention
from meshfield.nn.conditioning import AdaLNZero, Modulation
from meshfield.nn.mlp import mlp_forward

if TYPE_CHECKING:
    from meshfield.serialize import Patching, Serialization

__all__ = [
    "BackboneConfig",
    "BackbonePlan",
    "HybridBackbone",
    "HybridBlock",
    "MambaConfig",
    "PlanStep",
]

ATTENTIONS = ("patch", "linear", "full")
#: tokens per block of a block's MLP branch without gradients (its hidden activations stay in
#: cache: at 1M nodes the whole-sequence MLP cost 2-5x more per node than at 100k)
MLP_INFERENCE_BLOCK = 8192


@dataclass(frozen=True)
class MambaConfig(Config):
    """Options of the bidirectional Mamba mixers (see :class:`meshfield.nn.BiMamba`).

    Parameters
    ----------
    d_state : int, default: 16
        State size :math:`N` per group.
    d_conv : int, default: 4
        Width of the causal depthwise convolution.
    expand : int, default: 2
        Inner width as a multiple of ``d_model``.
    headdim : int, default: 64
        Channels per SSM head; must divide ``expand * d_model``.
    ngroups : int, default: 1
        Groups sharing the input-dependent ``B`` and ``C``.
    chunk_size : int, default: 64
        Chunk length of the chunked scan.
    backend : {"auto", "torch", "cuda"}, default: "auto"
        Scan implementation.
    checkpoint : bool or int, default: False
        Recompute the scan activations in the backward pass, block by block (``True`` for
        the default block length, or a length in tokens): less memory for long sequences.
    """

    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64
    ngroups: int = 1
    chunk_size: int = 64
    backend: str = "auto"
    checkpoint: bool | int = False


@dataclass(frozen=True)
class BackboneConfig(Config):
    """Everything that defines a :class:`HybridBackbone`; stored on the model as ``config``.

    Parameters
    ----------
    d_model : int, default: 128
        Token feature size.
    pattern : str, default: "MMAMMA"
        One letter per block: ``"M"`` a bidirectional Mamba mixer, ``"A"`` an attention mixer.
    attention : {"patch", "linear", "full"}, default: "patch"
        Attention of the ``"A"`` blocks: :class:`~meshfield.nn.PatchAttention`,
        :class:`~meshfield.nn.LinearAttention` or :class:`~meshfield.nn.FullAttention`.
    patch_size : int, default: 256
        Tokens per patch of patch attention.
    num_heads : int, default: 4
        Attention heads; must divide ``d_model``.
    curves : tuple of str, default: ("hilbert", "hilbert-trans", "z", "z-trans")
        Space-filling curves, cycled over the blocks: block ``i`` reads the nodes in the order
        of ``curves[i % len(curves)]``.
    depth : int, optional
        Bits per axis of the serialization grid; default: the serializer's choice.
    d_cond : int, default: 0
        Size of the per-graph conditioning vector; 0 disables conditioning.
    mlp_ratio : float, default: 4.0
        Hidden width of each block's MLP as a multiple of ``d_model``; 0 drops the MLP.
    mamba : MambaConfig, default: MambaConfig()
        Options of the Mamba mixers.
    shift_patches : bool, default: True
        Shift the patch borders by half a patch in every other attention block.
    dropout : float, default: 0.0
        Dropout on the residual branches (and the attention weights).
    """

    d_model: int = 128
    pattern: str = "MMAMMA"
    attention: str = "patch"
    patch_size: int = 256
    num_heads: int = 4
    curves: tuple[str, ...] = ("hilbert", "hilbert-trans", "z", "z-trans")
    depth: int | None = None
    d_cond: int = 0
    mlp_ratio: float = 4.0
    mamba: MambaConfig = field(default_factory=MambaConfig)
    shift_patches: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        # accept what JSON gives back (lists, nested dicts) and store the canonical types
        if isinstance(self.mamba, Mapping):
            object.__setattr__(self, "mamba", MambaConfig(**self.mamba))
        if isinstance(self.curves, str):
            object.__setattr__(self, "curves", (self.curves,))
        object.__setattr__(self, "curves", tuple(self.curves))
        self._validate()

    def _validate(self) -> None:
        from meshfield.serialize import CURVES

        if not self.pattern or set(self.pattern) - {"M", "A"}:
            msg = f"'pattern' must be a non-empty string of 'M' and 'A' (got {self.pattern!r})"
            raise ValueError(msg)
        if self.attention not in ATTENTIONS:
            msg = f"'attention' must be one of {ATTENTIONS} (got {self.attention!r})"
            raise ValueError(msg)
        unknown = [curve for curve in self.curves if curve not in CURVES]
        if not self.curves or unknown:
            msg = f"'curves' must be a non-empty tuple of {CURVES} (got {self.curves!r})"
            raise ValueError(msg)
        if self.d_model < 1 or self.d_cond < 0 or self.patch_size < 1 or self.mlp_ratio < 0:
            msg = (
                "Expected d_model >= 1, d_cond >= 0, patch_size >= 1 and mlp_ratio >= 0 (got "
                f"{self.d_model}, {self.d_cond}, {self.patch_size}, {self.mlp_ratio})"
            )
            raise ValueError(msg)
        if "A" in self.pattern and self.d_model % self.num_heads != 0:
            msg = f"'d_model' ({self.d_model}) must be divisible by 'num_heads' ({self.num_heads})"
            raise ValueError(msg)
        inner = self.mamba.expand * self.d_model
        if "M" in self.pattern and inner % self.mamba.headdim != 0:
            msg = (
                f"mamba.expand * d_model ({inner}) must be divisible by mamba.headdim "
                f"({self.mamba.headdim})"
            )
            raise ValueError(msg)
        if not 0.0 <= self.dropout < 1.0:
            msg = f"'dropout' must be in [0, 1) (got {self.dropout})"
            raise ValueError(msg)

    def curve_of(self, layer: int) -> str:
        """The curve block ``layer`` reads the nodes along."""
        return self.curves[layer % len(self.curves)]


class HybridBlock(nn.Module):
    r"""Pre-norm residual block: a sequence mixer and an MLP, optionally conditioned.

    .. math::
        \mathbf{x} &\leftarrow \mathbf{x} + \boldsymbol{\alpha}_1 \odot
            \mathrm{Mixer}\big(\mathrm{LN}_1(\mathbf{x}) \odot (1 + \boldsymbol{\gamma}_1)
            + \boldsymbol{\beta}_1\big) \\
        \mathbf{x} &\leftarrow \mathbf{x} + \boldsymbol{\alpha}_2 \odot
            \mathrm{MLP}\big(\mathrm{LN}_2(\mathbf{x}) \odot (1 + \boldsymbol{\gamma}_2)
            + \boldsymbol{\beta}_2\big)

    Shift :math:`\boldsymbol{\beta}`, scale :math:`\boldsymbol{\gamma}` and gate
    :math:`\boldsymbol{\alpha}` come per graph from the conditioning vector through
    :class:`~meshfield.nn.AdaLNZero` (zero at initialization, so a conditioned block starts
    as the identity); without conditioning they are 0, 0 and 1. The mixer is a
    :class:`~meshfield.nn.BiMamba` (its own pre-norm serves as :math:`\mathrm{LN}_1`, its
    ``mix`` as the mixer) or one of the attention layers of :mod:`meshfield.nn.attention`.

    Parameters
    ----------
    mixer : torch.nn.Module
        A :class:`~meshfield.nn.BiMamba`, :class:`~meshfield.nn.PatchAttention`,
        :class:`~meshfield.nn.LinearAttention` or :class:`~meshfield.nn.FullAttention`.
    channels : int
        Token feature size :math:`D`.
    cond_channels : int, default: 0
        Size of the per-graph conditioning vector; 0 for none.
    mlp_ratio : float, default: 4.0
        Hidden width of the MLP as a multiple of ``channels``; 0 drops the MLP branch.
    dropout : float, default: 0.0
        Dropout on both residual branches.

    Shapes
    ------
    - **input:** tokens :math:`(L, D)` in sequence order, graph index :math:`(L)` (``None``
      for one graph), conditioning :math:`(B, C)`
    - **output:** :math:`(L, D)`

    References
    ----------
    .. [1] L. Zhu et al., "Vision Mamba: Efficient Visual Representation Learning with
       Bidirectional State Space Model" (Vim), ICML 2024.
    .. [2] W. Peebles and S. Xie, "Scalable Diffusion Models with Transformers" (DiT),
       ICCV 2023.
    """

    def __init__(
        self,
        mixer: nn.Module,
        channels: int,
        *,
        cond_channels: int = 0,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        from meshfield.nn.ssm import BiMamba

        if not isinstance(mixer, BiMamba | PatchAttention | LinearAttention | FullAttention):
            msg = (
                "'mixer' must be a BiMamba, PatchAttention, LinearAttention or FullAttention "
                f"(got {type(mixer).__name__})"
            )
            raise TypeError(msg)
        self.kind = "M" if isinstance(mixer, BiMamba) else "A"
        self.channels = channels
        self.cond_channels = cond_channels
        self.mlp_ratio = mlp_ratio
        self.mixer = mixer
        affine = cond_channels == 0  # under conditioning, adaLN supplies scale and shift
        # a BiMamba brings its own pre-norm (x + mix(norm(x))); reuse it rather than leave it idle
        self.norm1 = None if self.kind == "M" else nn.LayerNorm(channels, elementwise_affine=affine)
        hidden = round(channels * mlp_ratio)
        self.mlp: nn.Module | None = None
        self.norm2: nn.Module | None = None
        if hidden > 0:
            self.norm2 = nn.LayerNorm(channels, elementwise_affine=affine)
            self.mlp = nn.Sequential(
                nn.Linear(channels, hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, channels),
            )
        self.adaln = None
        if cond_channels > 0:
            self.adaln = AdaLNZero(
                channels, cond_channels, num_branches=1 if self.mlp is None else 2
            )
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize the mixer, norms, MLP and conditioning."""
        for module in (self.mixer, self.norm1, self.norm2, self.adaln):
            if module is not None and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if self.mlp is not None:
            for layer in self.mlp:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()

    def _pre_norm(self, x: Tensor) -> Tensor:
        return self.mixer.norm(x) if self.norm1 is None else self.norm1(x)

    def _mix(
        self, h: Tensor, batch: Tensor | None, seq_idx: Tensor | None, patching: Patching | None
    ) -> Tensor:
        if self.kind == "M":
            if seq_idx is None and batch is not None:
                seq_idx = batch.to(torch.int32).unsqueeze(0)
            return self.mixer.mix(h.unsqueeze(0), seq_idx=seq_idx).squeeze(0)
        if isinstance(self.mixer, PatchAttention):
            return self.mixer(h, batch, patching)
        return self.mixer(h, batch)

    def forward(
        self,
        x: Tensor,
        batch: Tensor | None = None,
        cond: Tensor | None = None,
        *,
        seq_idx: Tensor | None = None,
        patching: Patching | None = None,
    ) -> Tensor:
        """Apply the block to a serialized sequence.

        Parameters
        ----------
        x : torch.Tensor
            Tokens in sequence order, shape ``[L, D]``.
        batch : torch.Tensor, optional
            Graph index of every token, non-decreasing, shape ``[L]``. Default: one graph.
        cond : torch.Tensor, optional
            Conditioning, shape ``[B, cond_channels]``; required when ``cond_channels > 0``.
        seq_idx : torch.Tensor, optional
            ``batch`` as ``int32`` of shape ``[1, L]`` for the Mamba mixer (a backbone builds
            it once for all blocks). Default: derived from ``batch``.
        patching : meshfield.serialize.Patching, optional
            Patches for a :class:`~meshfield.nn.PatchAttention` mixer. Default: computed.

        Returns
        -------
        torch.Tensor
            Shape ``[L, D]``.
        """
        if (cond is None) != (self.adaln is None):
            msg = (
                f"{self!r} expects 'cond' of shape [num_graphs, {self.cond_channels}]"
                if cond is None
                else f"{self!r} was built without conditioning (cond_channels=0) but got 'cond'"
            )
            raise ValueError(msg)
        modulations = self.adaln(cond) if self.adaln is not None else ()

        h = self._pre_norm(x)
        if modulations:
            h = modulations[0].modulate(h, batch)
        h = self.dropout(self._mix(h, batch, seq_idx, patching))
        x = x + (modulations[0].gated(h, batch) if modulations else h)

        if self.mlp is None:
            return x
        modulation = modulations[1] if modulations else None
        if torch.is_grad_enabled() or x.size(0) <= MLP_INFERENCE_BLOCK:
            return self._mlp_branch(x, batch, modulation)
        # without gradients, block by block: the [block, hidden] activations stay in cache
        out = torch.empty_like(x)
        for part in spans(x.size(0), MLP_INFERENCE_BLOCK):
            piece = None if batch is None else batch[part]
            out[part] = self._mlp_branch(x[part], piece, modulation)
        return out

    def _mlp_branch(
        self, x: Tensor, batch: Tensor | None, modulation: Modulation | None
    ) -> Tensor:
        h = self.norm2(x)
        if modulation is not None:
            h = modulation.modulate(h, batch)
        h = self.dropout(mlp_forward(self.mlp, h))
        return x + (modulation.gated(h, batch) if modulation is not None else h)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.mixer!r}, mlp_ratio={self.mlp_ratio}, "
            f"cond_channels={self.cond_channels})"
        )


class PlanStep(NamedTuple):
    """What one block of a :class:`HybridBackbone` pass reads besides the features."""

    #: ``[N]`` gather into this block's curve order (None: the previous block's order)
    gather: Tensor | None
    #: ``[N]`` graph index in sequence order (None: one graph)
    seq_batch: Tensor | None
    #: ``[1, N]`` int32 segment ids for the Mamba scans (None: one graph)
    seq_idx: Tensor | None
    #: the attention patches (None for a Mamba block)
    patching: Patching | None


class BackbonePlan(NamedTuple):
    """The per-mesh part of a :class:`HybridBackbone` pass (:meth:`HybridBackbone.plan`)."""

    num_nodes: int
    num_graphs: int
    blocks: tuple[PlanStep, ...]
    #: ``[N]`` back from the last block's order to node order
    scatter: Tensor | None


class HybridBackbone(nn.Module):
    r"""A stack of bidirectional Mamba and attention blocks over space-filling-curve orders.

    Block :math:`i` reads the nodes in the order of the curve
    ``config.curves[i % len(config.curves)]`` (gather ``x[order]``), mixes the sequence and
    writes back (``y[inverse]``); consecutive blocks on the same curve share the sequence, and
    a change of curve is one gather. ``pattern`` sets the kind of every block: ``"M"`` a
    :class:`~meshfield.nn.BiMamba` (global receptive field, linear cost), ``"A"`` attention
    (patch attention by default, with borders shifted by half a patch in every other
    attention block). The graph index in sequence order is the ``seq_idx`` of the scans and
    bounds every patch, so the graphs of a batch never mix. With ``d_cond > 0`` every block is
    modulated by a per-graph conditioning vector through adaLN-Zero and the whole backbone
    starts as the identity.

    Parameters
    ----------
    config : BackboneConfig, optional
        The configuration; default: ``BackboneConfig()``.
    **options
        Fields that replace those of ``config``, e.g. ``HybridBackbone(pattern="MA")``.

    Shapes
    ------
    - **input:** node features :math:`(N, D)`, positions :math:`(N, d)`, graph index
      :math:`(N)` (``None`` for one graph), conditioning :math:`(B, d_{cond})`
    - **output:** :math:`(N, D)` in node order

    References
    ----------
    .. [1] X. Wu et al., "Point Transformer V3: Simpler, Faster, Stronger", CVPR 2024.
    .. [2] L. Zhu et al., "Vision Mamba: Efficient Visual Representation Learning with
       Bidirectional State Space Model" (Vim), ICML 2024.
    .. [3] W. Peebles and S. Xie, "Scalable Diffusion Models with Transformers" (DiT),
       ICCV 2023.
    .. [4] S. Cao, "Choose a Transformer: Fourier or Galerkin", NeurIPS 2021.

    Example
    -------
    >>> import torch
    >>> from meshfield.nn import HybridBackbone
    >>> model = HybridBackbone(d_model=32, pattern="MA", patch_size=16)
    >>> pos = torch.rand(100, 2)
    >>> model(torch.randn(100, 32), pos).shape
    torch.Size([100, 32])
    """

    def __init__(self, config: BackboneConfig | None = None, /, **options: Any) -> None:
        super().__init__()
        config = config if config is not None else BackboneConfig()
        if options:
            config = replace(config, **options)
        self.config = config
        self.blocks = nn.ModuleList(
            self._make_block(kind, i) for i, kind in enumerate(config.pattern)
        )

    @classmethod
    def from_config(cls, config: BackboneConfig | Mapping[str, Any]) -> HybridBackbone:
        """Build the backbone a configuration (or its :meth:`BackboneConfig.to_dict`) describes."""
        if isinstance(config, Mapping):
            config = BackboneConfig.from_dict(config)
        return cls(config)

    def _make_block(self, kind: str, layer: int) -> HybridBlock:
        cfg = self.config
        if kind == "M":
            from meshfield.nn.ssm import BiMamba

            mixer: nn.Module = BiMamba(cfg.d_model, **asdict(cfg.mamba))
        elif cfg.attention == "patch":
            attention_index = cfg.pattern[:layer].count("A")
            shift = cfg.patch_size // 2 if cfg.shift_patches and attention_index % 2 == 1 else 0
            mixer = PatchAttention(
                cfg.d_model, cfg.num_heads, cfg.patch_size, shift, dropout=cfg.dropout
            )
        elif cfg.attention == "linear":
            mixer = LinearAttention(cfg.d_model, cfg.num_heads, dropout=cfg.dropout)
        else:
            mixer = FullAttention(cfg.d_model, cfg.num_heads, dropout=cfg.dropout)
        return HybridBlock(
            mixer,
            cfg.d_model,
            cond_channels=cfg.d_cond,
            mlp_ratio=cfg.mlp_ratio,
            dropout=cfg.dropout,
        )

    def reset_parameters(self) -> None:
        """Reinitialize every block."""
        for block in self.blocks:
            block.reset_parameters()

    @property
    def curves_used(self) -> tuple[str, ...]:
        """The distinct curves the blocks read along, in first-use order."""
        return tuple(dict.fromkeys(self.config.curve_of(i) for i in range(len(self.blocks))))

    def serialize(self, pos: Tensor, batch: Tensor | None = None) -> dict[str, Serialization]:
        """Serializations of the nodes along every curve the blocks use.

        Compute them once per mesh and pass them to :meth:`forward` to skip the sorting when
        the same mesh is processed many times (e.g. every step of a rollout).
        """
        from meshfield.serialize import serialize

        return {
            curve: serialize(pos, batch, curve=curve, depth=self.config.depth)
            for curve in self.curves_used
        }

    def _collect_serializations(
        self,
        pos: Tensor | None,
        batch: Tensor | None,
        serializations: Data | Mapping[str, Serialization] | Sequence[Serialization] | None,
        num_nodes: int,
    ) -> dict[str, Serialization]:
        given: dict[str, Serialization] = {}
        if isinstance(serializations, Data):
            from meshfield.serialize import get_serialization

            # orders stored by the Serialize transform (recomputed if missing or of another depth)
            given = {
                curve: get_serialization(serializations, curve, depth=self.config.depth)
                for curve in self.curves_used
            }
        elif isinstance(serializations, Mapping):
            given = dict(serializations)
        elif serializations is not None:
            given = {ser.curve: ser for ser in serializations}
        missing = [curve for curve in self.curves_used if curve not in given]
        for curve in self.curves_used:
            if curve in given and given[curve].order.numel() != num_nodes:
                msg = (
                    f"Expected the {curve!r} serialization to order {num_nodes} nodes "
                    f"(got {given[curve].order.numel()})"
                )
                raise ValueError(msg)
        if missing:
            if pos is None:
                msg = f"'pos' is required to serialize along {missing} (no serialization given)"
                raise ValueError(msg)
            from meshfield.serialize import serialize

            for curve in missing:
                given[curve] = serialize(pos, batch, curve=curve, depth=self.config.depth)
        return given

    def _check_inputs(
        self,
        x: Tensor,
        pos: Tensor | None,
        batch: Tensor | None,
        cond: Tensor | None,
        num_graphs: int | None = None,
    ) -> None:
        cfg = self.config
        if x.dim() != 2 or x.size(1) != cfg.d_model:
            msg = f"Expected 'x' tensor with shape [num_nodes, {cfg.d_model}] (got {list(x.shape)})"
            raise ValueError(msg)
        if pos is not None and (pos.dim() != 2 or pos.size(0) != x.size(0)):
            msg = f"Expected 'pos' tensor with shape [{x.size(0)}, dim] (got {list(pos.shape)})"
            raise ValueError(msg)
        if batch is not None and (batch.dim() != 1 or batch.numel() != x.size(0)):
            msg = f"Expected 'batch' tensor with shape [{x.size(0)}] (got {list(batch.shape)})"
            raise ValueError(msg)
        if cfg.d_cond == 0 and cond is not None:
            msg = "'cond' was given but the backbone has d_cond=0"
            raise ValueError(msg)
        if cfg.d_cond > 0:
            if num_graphs is None:
                num_graphs = 1 if batch is None or batch.numel() == 0 else int(batch.max()) + 1
            if cond is None or cond.dim() != 2 or tuple(cond.shape) != (num_graphs, cfg.d_cond):
                got = None if cond is None else list(cond.shape)
                msg = f"Expected 'cond' tensor with shape [{num_graphs}, {cfg.d_cond}] (got {got})"
                raise ValueError(msg)

    def forward(
        self,
        x: Tensor,
        pos: Tensor | None,
        batch: Tensor | None = None,
        cond: Tensor | None = None,
        serializations: Data | Mapping[str, Serialization] | Sequence[Serialization] | None = None,
        *,
        plan: BackbonePlan | None = None,
    ) -> Tensor:
        """Mix node features along the configured curves.

        Parameters
        ----------
        x : torch.Tensor
            Node features in node order, shape ``[N, d_model]``.
        pos : torch.Tensor or None
            Node positions, shape ``[N, d]``; may be ``None`` when ``serializations`` covers
            every curve used.
        batch : torch.Tensor, optional
            Graph index of every node, shape ``[N]``. Default: one graph.
        cond : torch.Tensor, optional
            Per-graph conditioning, shape ``[num_graphs, d_cond]``; required when
            ``d_cond > 0``.
        serializations : Data, mapping or sequence of Serialization, optional
            Precomputed serializations: curve -> :class:`~meshfield.serialize.Serialization`,
            a sequence of them keyed by their ``curve`` (e.g. from :meth:`serialize`), or the
            graph or batch on which :class:`~meshfield.serialize.Serialize` stored them.
            Missing curves are computed from ``pos``.
        plan : BackbonePlan, optional
            :meth:`plan` of this mesh, made once per rollout (then ``pos`` and
            ``serializations`` are not read).

        Returns
        -------
        torch.Tensor
            Shape ``[N, d_model]`` in node order.
        """
        self._check_inputs(x, pos, batch, cond, None if plan is None else plan.num_graphs)
        if plan is None:
            plan = self.plan(pos, batch, serializations, num_nodes=x.size(0))
        elif plan.num_nodes != x.size(0):
            msg = f"The plan was made for {plan.num_nodes} nodes (got {x.size(0)})"
            raise ValueError(msg)
        h = x
        for block, step in zip(self.blocks, plan.blocks, strict=True):
            if step.gather is not None:
                h = h.index_select(0, step.gather)
            h = block(h, step.seq_batch, cond, seq_idx=step.seq_idx, patching=step.patching)
        return h if plan.scatter is None else h.index_select(0, plan.scatter)

    def plan(
        self,
        pos: Tensor | None,
        batch: Tensor | None = None,
        serializations: Data | Mapping[str, Serialization] | Sequence[Serialization] | None = None,
        *,
        num_nodes: int | None = None,
    ) -> BackbonePlan:
        """Everything a pass over this mesh needs besides the features (once per mesh).

        The curve orders, the gathers from one block's order to the next, the graph index and
        segment ids in sequence order, and the attention patches. A rollout computes it once
        and passes it to every :meth:`forward`.

        Parameters
        ----------
        pos : torch.Tensor or None
            Node positions ``[N, d]`` (may be ``None`` when ``serializations`` covers every
            curve).
        batch : torch.Tensor, optional
            Graph index of every node ``[N]``.
        serializations : optional
            As in :meth:`forward`.
        num_nodes : int, optional
            ``N``; default: from ``pos`` or the serializations.

        Returns
        -------
        BackbonePlan
        """
        if num_nodes is None:
            if pos is None:
                if batch is None:
                    msg = "'num_nodes' is required without 'pos' and 'batch'"
                    raise ValueError(msg)
                num_nodes = batch.numel()
            else:
                num_nodes = pos.size(0)
        orders = self._collect_serializations(pos, batch, serializations, num_nodes)
        device = next(iter(orders.values())).order.device if orders else None
        seq_batch: dict[str, Tensor | None] = {}
        seq_idx: dict[str, Tensor | None] = {}
        for curve in self.curves_used:
            seq_batch[curve] = None if batch is None else batch[orders[curve].order]
            seq_idx[curve] = (
                None if batch is None else seq_batch[curve].to(torch.int32).unsqueeze(0)
            )
        patchings: dict[tuple[str, int], Patching] = {}
        steps: list[PlanStep] = []
        current: str | None = None
        for layer, block in enumerate(self.blocks):
            curve = self.config.curve_of(layer)
            gather = None
            if curve != current:
                # one gather from the previous curve's order to this one's
                gather = (
                    orders[curve].order
                    if current is None
                    else orders[current].inverse[orders[curve].order]
                )
                current = curve
            patching = None
            if isinstance(block.mixer, PatchAttention):
                key = (curve, block.mixer.shift)
                if key not in patchings:
                    patchings[key] = block.mixer.patching(seq_batch[curve], num_nodes, device)
                patching = patchings[key]
            steps.append(PlanStep(gather, seq_batch[curve], seq_idx[curve], patching))
        scatter = None if current is None else orders[current].inverse
        num_graphs = 1 if batch is None or batch.numel() == 0 else int(batch.max()) + 1
        return BackbonePlan(num_nodes, num_graphs, tuple(steps), scatter)

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"{self.__class__.__name__}({cfg.d_model}, pattern={cfg.pattern!r}, "
            f"attention={cfg.attention!r}, curves={cfg.curves!r}, d_cond={cfg.d_cond})"
        )
