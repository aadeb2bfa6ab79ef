"""Configurations of the models: nested frozen dataclasses that a checkpoint stores as JSON.

Every model is rebuilt from its configuration alone (``Model.from_config(config)``); the
configuration holds the field and condition names, so a checkpoint knows what the model reads
and writes. :func:`config_to_dict` gives plain JSON values, and each class accepts them back
(lists become tuples, nested dictionaries become the nested dataclasses).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from meshfield._config import Config, plain
from meshfield.nn.backbone import BackboneConfig

__all__ = [
    "DecoderConfig",
    "EncoderConfig",
    "HMTConfig",
    "MeshGraphNetConfig",
    "TransformerConfig",
    "config_from_dict",
    "config_to_dict",
]


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    names = tuple(value)
    if not all(isinstance(name, str) and name for name in names):
        msg = f"'{key}' must be a sequence of non-empty strings (got {value!r})"
        raise ValueError(msg)
    if len(set(names)) != len(names):
        msg = f"'{key}' must not repeat a name (got {list(names)})"
        raise ValueError(msg)
    return names


def _nested(value: Any, cls: type, key: str) -> Any:
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return config_from_dict(cls, value)
    msg = f"'{key}' must be a {cls.__name__} or a mapping of its fields (got {type(value).__name__})"
    raise TypeError(msg)


def _check_common(config: Any) -> None:
    object.__setattr__(config, "field_names", _names(config.field_names, "field_names"))
    object.__setattr__(config, "cond_names", _names(config.cond_names, "cond_names"))
    if not config.field_names:
        msg = "'field_names' must name at least one field (the channels the model predicts)"
        raise ValueError(msg)
    if config.dim not in (2, 3):
        msg = f"'dim' must be 2 or 3 (got {config.dim})"
        raise ValueError(msg)
    if config.history < 1:
        msg = f"'history' must be at least 1 input frame (got {config.history})"
        raise ValueError(msg)
    step = config.frame_step
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        msg = f"'frame_step' must be a positive integer of snapshots per step (got {step!r})"
        raise ValueError(msg)
    object.__setattr__(
        config, "encoder", _nested(config.encoder, EncoderConfig, "encoder")
    )
    object.__setattr__(
        config, "decoder", _nested(config.decoder, DecoderConfig, "decoder")
    )


@dataclass(frozen=True)
class EncoderConfig(Config):
    """Options of :class:`meshfield.nn.NodeEncoder`.

    Parameters
    ----------
    position : bool, default: True
        Feed the (normalized) node positions to the node MLP.
    fourier_features : int, default: 8
        Frequencies per axis of the Fourier position features (``sin`` and ``cos`` of
        :math:`2^k \\pi x`, :math:`k < F`); 0 for none. Ignored without ``position``.
    num_boundary_tags : int, default: 8
        Size of the boundary-tag embedding; tags must be smaller.
    message_passing : int, default: 2
        Message-passing layers over the mesh edges after the node MLP.
    """

    position: bool = True
    fourier_features: int = 8
    num_boundary_tags: int = 8
    message_passing: int = 2

    def __post_init__(self) -> None:
        if (
            self.fourier_features < 0
            or self.num_boundary_tags < 1
            or self.message_passing < 0
        ):
            msg = (
                "Expected fourier_features >= 0, num_boundary_tags >= 1 and message_passing >= 0 "
                f"(got {self.fourier_features}, {self.num_boundary_tags}, {self.message_passing})"
            )
            raise ValueError(msg)


@dataclass(frozen=True)
class DecoderConfig(Config):
    """Options of the node and point-query decoders.

    Parameters
    ----------
    hidden : int, optional
        Hidden width of the node decoder; default: the model width.
    query_neighbors : int, default: 8
        Nodes :math:`k` each query point reads.
    query_hidden : int, default: 64
        Hidden width of the point-query MLP.
    initial_head : bool, default: True
        Build a head that produces the first frame from the mesh and conditions alone.
    """

    hidden: int | None = None
    query_neighbors: int = 8
    query_hidden: int = 64
    initial_head: bool = True

    def __post_init__(self) -> None:
        if (self.hidden is not None and self.hidden < 1) or self.query_neighbors < 1:
            msg = (
                "Expected hidden >= 1 (or None) and query_neighbors >= 1 "
                f"(got {self.hidden}, {self.query_neighbors})"
            )
            raise ValueError(msg)
        if self.query_hidden < 1:
            msg = f"'query_hidden' must be positive (got {self.query_hidden})"
            raise ValueError(msg)


@dataclass(frozen=True)
class HMTConfig(Config):
    """Everything that defines an :class:`~meshfield.models.HMT`.

    Parameters
    ----------
    field_names : tuple of str
        The predicted channels :math:`C`, in the order of ``fields[..., C]``.
    cond_names : tuple of str, default: ()
        The global physical conditions :math:`K`, in the order of ``cond``.
    dim : int, default: 2
        Spatial dimension of the meshes.
    history : int, default: 1
        Input frames per step.
    frame_step : int, default: 1
        Snapshots of the training data per model step: the model reads frames ``frame_step``
        snapshots apart and predicts the frame ``frame_step`` snapshots after its last input
        (a step of ``frame_step`` snapshot intervals in time).
    encoder : EncoderConfig, default: EncoderConfig()
        Node encoder (positions with Fourier features, boundary tags, frames, conditions,
        then message passing over the mesh edges).
    backbone : BackboneConfig, default: BackboneConfig()
        The hybrid Mamba-attention stack; its ``d_model`` is the model width. Its ``d_cond``
        is set by the model (the width, when there are conditions or a temporal latent).
    d_latent : int, default: 64
        Size of the temporal latent state carried from step to step; 0 disables it.
    decoder : DecoderConfig, default: DecoderConfig()
        Node, point-query and initial-frame decoders.
    """

    field_names: tuple[str, ...]
    cond_names: tuple[str, ...] = ()
    dim: int = 2
    history: int = 1
    frame_step: int = 1
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    d_latent: int = 64
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self) -> None:
        _check_common(self)
        backbone = _nested(self.backbone, BackboneConfig, "backbone")
        if self.d_latent < 0:
            msg = f"'d_latent' must be >= 0 (got {self.d_latent})"
            raise ValueError(msg)
        conditioned = bool(self.cond_names) or self.d_latent > 0
        d_cond = backbone.d_model if conditioned else 0
        if backbone.d_cond != d_cond:
            backbone = replace(backbone, d_cond=d_cond)
        object.__setattr__(self, "backbone", backbone)

    @property
    def width(self) -> int:
        """Token width :math:`D` (the backbone's ``d_model``)."""
        return self.backbone.d_model


@dataclass(frozen=True)
class MeshGraphNetConfig(Config):
    """Everything that defines a :class:`~meshfield.models.MeshGraphNet`.

    Parameters
    ----------
    field_names : tuple of str
        The predicted channels.
    cond_names : tuple of str, default: ()
        The global physical conditions.
    dim : int, default: 2
        Spatial dimension of the meshes.
    history : int, default: 1
        Input frames per step.
    frame_step : int, default: 1
        Snapshots of the training data per model step: the model reads frames ``frame_step``
        snapshots apart and predicts the frame ``frame_step`` snapshots after its last input
        (a step of ``frame_step`` snapshot intervals in time).
    width : int, default: 128
        Latent size of nodes and edges.
    num_layers : int, default: 15
        Message-passing steps of the processor.
    mlp_layers : int, default: 2
        Hidden layers of every MLP.
    checkpoint : bool, default: False
        Recompute each processor step's activations in the backward pass
        (``torch.utils.checkpoint``): training keeps the node and edge latents between steps
        instead of every step's edge-MLP activations, about a third more time for a fraction of
        the memory (at 100k nodes the plain step does not fit in 24 GB). Same values and
        gradients; no effect without gradients.
    encoder : EncoderConfig, default: no positions, no message passing
        Node inputs (as in Pfaff et al., absolute positions are left out; the edges carry
        relative positions).
    decoder : DecoderConfig, default: DecoderConfig()
        Node, point-query and initial-frame decoders.
    """

    field_names: tuple[str, ...]
    cond_names: tuple[str, ...] = ()
    dim: int = 2
    history: int = 1
    frame_step: int = 1
    width: int = 128
    num_layers: int = 15
    mlp_layers: int = 2
    checkpoint: bool = False
    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(
            position=False, fourier_features=0, message_passing=0
        )
    )
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self) -> None:
        _check_common(self)
        if self.width < 1 or self.num_layers < 0 or self.mlp_layers < 1:
            msg = (
                "Expected width >= 1, num_layers >= 0 and mlp_layers >= 1 "
                f"(got {self.width}, {self.num_layers}, {self.mlp_layers})"
            )
            raise ValueError(msg)


@dataclass(frozen=True)
class TransformerConfig(Config):
    """Everything that defines a :class:`~meshfield.models.Transformer`.

    Parameters
    ----------
    field_names : tuple of str
        The predicted channels.
    cond_names : tuple of str, default: ()
        The global physical conditions.
    dim : int, default: 2
        Spatial dimension of the meshes.
    history : int, default: 1
        Input frames per step.
    frame_step : int, default: 1
        Snapshots of the training data per model step: the model reads frames ``frame_step``
        snapshots apart and predicts the frame ``frame_step`` snapshots after its last input
        (a step of ``frame_step`` snapshot intervals in time).
    width : int, default: 128
        Token width.
    num_layers : int, default: 6
        Attention blocks.
    num_heads : int, default: 4
        Attention heads; must divide ``width``.
    attention : {"linear", "full"}, default: "linear"
        Galerkin linear attention (any size) or softmax attention (small meshes only).
    mlp_ratio : float, default: 4.0
        Hidden width of the block MLPs as a multiple of ``width``.
    encoder : EncoderConfig, default: no message passing
        Node inputs; a plain transformer sees the nodes only, not the mesh edges.
    decoder : DecoderConfig, default: DecoderConfig()
        Node, point-query and initial-frame decoders.
    """

    field_names: tuple[str, ...]
    cond_names: tuple[str, ...] = ()
    dim: int = 2
    history: int = 1
    frame_step: int = 1
    width: int = 128
    num_layers: int = 6
    num_heads: int = 4
    attention: str = "linear"
    mlp_ratio: float = 4.0
    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(message_passing=0)
    )
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self) -> None:
        _check_common(self)
        if self.attention not in ("linear", "full"):
            msg = f"'attention' must be 'linear' or 'full' (got {self.attention!r})"
            raise ValueError(msg)
        if self.width < 1 or self.num_layers < 1 or self.width % self.num_heads != 0:
            msg = (
                "Expected width >= 1, num_layers >= 1 and width divisible by num_heads "
                f"(got {self.width}, {self.num_layers}, {self.num_heads})"
            )
            raise ValueError(msg)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain JSON values of a configuration (:meth:`meshfield._config.Config.to_dict`)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        msg = f"Expected a configuration dataclass (got {type(config).__name__})"
        raise TypeError(msg)
    return config.to_dict() if isinstance(config, Config) else plain(config)


def config_from_dict(cls: type, values: Mapping[str, Any]) -> Any:
    """Build ``cls`` from :func:`config_to_dict` output; unknown keys are an error."""
    if isinstance(cls, type) and issubclass(cls, Config):
        return cls.from_dict(values)
    msg = f"Expected a configuration class (got {cls!r})"
    raise TypeError(msg)
