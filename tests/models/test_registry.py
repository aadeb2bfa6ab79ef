"""Configurations (JSON round trips, validation) and building models by name."""

from __future__ import annotations

import json

import pytest

from meshfield.models import (
    HMT,
    MODEL_NAMES,
    EncoderConfig,
    HMTConfig,
    MeshGraphNet,
    MeshGraphNetConfig,
    Transformer,
    TransformerConfig,
    build_model,
    config_from_dict,
    config_to_dict,
    model_class,
)


@pytest.mark.parametrize(
    "config",
    [
        HMTConfig(field_names=("u", "v"), cond_names=("Re",)),
        MeshGraphNetConfig(field_names=("p",), history=2),
        TransformerConfig(field_names=("p",), attention="full"),
    ],
)
def test_config_json_round_trip(config) -> None:
    values = json.loads(json.dumps(config_to_dict(config)))
    assert config_from_dict(type(config), values) == config


def test_config_defaults() -> None:
    mgn = MeshGraphNetConfig(field_names=("p",))
    assert mgn.width == 128 and mgn.num_layers == 15 and not mgn.encoder.position
    assert TransformerConfig(field_names=("p",)).attention == "linear"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"field_names": ()}, "at least one field"),
        ({"field_names": ("u", "u")}, "must not repeat"),
        ({"field_names": ("u",), "dim": 4}, "'dim' must be 2 or 3"),
        ({"field_names": ("u",), "history": 0}, "'history' must be at least 1"),
        ({"field_names": ("u",), "d_latent": -1}, "'d_latent' must be >= 0"),
        (
            {"field_names": ("u",), "encoder": {"message_passing": -1}},
            "message_passing >= 0",
        ),
        ({"field_names": ("u",), "encoder": {"bogus": 1}}, r"no fields \['bogus'\]"),
    ],
)
def test_config_errors(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HMTConfig(**kwargs)


def test_transformer_config_errors() -> None:
    with pytest.raises(ValueError, match="'attention' must be 'linear' or 'full'"):
        TransformerConfig(field_names=("u",), attention="patch")
    with pytest.raises(TypeError, match="'encoder' must be a EncoderConfig"):
        TransformerConfig(field_names=("u",), encoder=3)


def test_names() -> None:
    assert MODEL_NAMES == (
        "hmt",
        "hmt-no-mamba",
        "hmt-no-attention",
        "meshgraphnet",
        "transformer",
    )
    assert isinstance(
        build_model("meshgraphnet", field_names=("p",), width=8, num_layers=1),
        MeshGraphNet,
    )
    assert isinstance(
        build_model("transformer", field_names=("p",), width=8, num_heads=2),
        Transformer,
    )


@pytest.mark.parametrize(
    ("name", "pattern"),
    [("hmt", "MMAMMA"), ("hmt-no-mamba", "AAAAAA"), ("hmt-no-attention", "MMMMMM")],
)
def test_ablations(name: str, pattern: str) -> None:
    model = build_model(name, field_names=("p",))
    assert isinstance(model, HMT)
    assert model.config.backbone.pattern == pattern
    assert "".join(block.kind for block in model.backbone.blocks) == pattern


def test_ablation_keeps_other_backbone_options() -> None:
    model = build_model(
        "hmt-no-mamba",
        field_names=("p",),
        backbone={"d_model": 32, "pattern": "MA", "num_heads": 2},
    )
    assert model.config.backbone.pattern == "AA" and model.width == 32


def test_build_from_config() -> None:
    config = HMTConfig(field_names=("p",), encoder=EncoderConfig(message_passing=1))
    model = build_model(config, history=2)
    assert isinstance(model, HMT) and model.config.history == 2
    assert model.config.encoder.message_passing == 1


def test_build_errors() -> None:
    with pytest.raises(ValueError, match="Unknown model 'unet'"):
        build_model("unet", field_names=("p",))
    with pytest.raises(TypeError, match="Expected a model name"):
        build_model(3)
    with pytest.raises(ValueError, match="Unknown model kind"):
        model_class("unet")
