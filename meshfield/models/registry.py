"""Build models by name (the model and its baselines and ablations) or from a configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from meshfield.models.base import FieldModel
from meshfield.models.config import HMTConfig, MeshGraphNetConfig, TransformerConfig
from meshfield.nn.backbone import BackboneConfig

__all__ = ["MODELS", "MODEL_NAMES", "build_model", "model_class"]


def _classes() -> dict[str, type[FieldModel]]:
    from meshfield.models.hmt import HMT
    from meshfield.models.meshgraphnet import MeshGraphNet
    from meshfield.models.transformer import Transformer

    return {cls.kind: cls for cls in (HMT, MeshGraphNet, Transformer)}


def _backbone_with_pattern(letter: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def adjust(options: dict[str, Any]) -> dict[str, Any]:
        backbone = options.get("backbone", BackboneConfig())
        if isinstance(backbone, Mapping):
            backbone = BackboneConfig.from_dict(backbone)
        options["backbone"] = replace(backbone, pattern=letter * len(backbone.pattern))
        return options

    return adjust


def _identity(options: dict[str, Any]) -> dict[str, Any]:
    return options


#: name -> (model kind, adjustment of the keyword options); see :func:`build_model`
MODELS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "hmt": ("hmt", _identity),
    "hmt-no-mamba": ("hmt", _backbone_with_pattern("A")),
    "hmt-no-attention": ("hmt", _backbone_with_pattern("M")),
    "meshgraphnet": ("meshgraphnet", _identity),
    "transformer": ("transformer", _identity),
}

#: the names :func:`build_model` accepts
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)

_CONFIGS: dict[type, str] = {
    HMTConfig: "hmt",
    MeshGraphNetConfig: "meshgraphnet",
    TransformerConfig: "transformer",
}


def model_class(kind: str) -> type[FieldModel]:
    """The model class of a kind (``"hmt"``, ``"meshgraphnet"``, ``"transformer"``)."""
    classes = _classes()
    if kind not in classes:
        msg = f"Unknown model kind {kind!r}; expected one of {sorted(classes)}"
        raise ValueError(msg)
    return classes[kind]


def build_model(name_or_config: str | Any, **options: Any) -> FieldModel:
    """Build a model by name or from a configuration.

    Parameters
    ----------
    name_or_config : str or HMTConfig or MeshGraphNetConfig or TransformerConfig
        A name of :data:`MODEL_NAMES`:

        - ``"hmt"``: :class:`~meshfield.models.HMT` (pattern ``"MMAMMA"``);
        - ``"hmt-no-mamba"``: HMT whose backbone blocks are all attention (same depth);
        - ``"hmt-no-attention"``: HMT whose backbone blocks are all bidirectional Mamba;
        - ``"meshgraphnet"``: :class:`~meshfield.models.MeshGraphNet` (15 steps, width 128);
        - ``"transformer"``: :class:`~meshfield.models.Transformer` (linear attention);

        or a configuration, which selects its model class. The ablations change only the
        spatial backbone; the temporal latent, encoder and decoders stay as in HMT.
    **options
        Configuration fields, e.g. ``field_names=("u", "v"), cond_names=("Re",)``; with a
        configuration, they replace its fields.

    Returns
    -------
    FieldModel

    Example
    -------
    >>> from meshfield.models import build_model
    >>> build_model("hmt-no-attention", field_names=("T",)).config.backbone.pattern
    'MMMMMM'
    """
    if isinstance(name_or_config, str):
        if name_or_config not in MODELS:
            msg = (
                f"Unknown model {name_or_config!r}; expected one of {list(MODEL_NAMES)}"
            )
            raise ValueError(msg)
        kind, adjust = MODELS[name_or_config]
        cls = model_class(kind)
        return cls(cls.config_class()(**adjust(dict(options))))
    kind = _CONFIGS.get(type(name_or_config))
    if kind is None:
        msg = (
            "Expected a model name or an HMTConfig, MeshGraphNetConfig or TransformerConfig "
            f"(got {type(name_or_config).__name__})"
        )
        raise TypeError(msg)
    config = replace(name_or_config, **options) if options else name_or_config
    return model_class(kind).from_config(config)
