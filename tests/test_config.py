"""One configuration base: every configuration is plain data with one strict round trip."""

from __future__ import annotations

import json

import pytest

from meshfield._config import Config
from meshfield.models.config import (
    DecoderConfig,
    EncoderConfig,
    HMTConfig,
    MeshGraphNetConfig,
    TransformerConfig,
)
from meshfield.nn.backbone import BackboneConfig, MambaConfig
from meshfield.refine.finetune import FinetuneConfig
from meshfield.refine.refiner import BoundaryValue, RefinerConfig
from meshfield.train.config import TrainConfig

CONFIGS = [
    MambaConfig(d_state=8, headdim=8),
    BackboneConfig(d_model=32, curves=("z", "hilbert"), mamba=MambaConfig(headdim=16)),
    EncoderConfig(fourier_features=4),
    DecoderConfig(query_neighbors=4),
    HMTConfig(
        field_names=("u", "v"),
        cond_names=("Re",),
        backbone=BackboneConfig(d_model=32, mamba=MambaConfig(headdim=16)),
    ),
    MeshGraphNetConfig(field_names=("u",), width=16),
    TransformerConfig(field_names=("u",), width=16, num_heads=2),
    TrainConfig(epochs=3, extra_data=("a", "b"), model_options={"width": 32}),
    RefinerConfig(
        field_names=("u", "v"),
        pde={"name": "heat", "alpha": 1.0},
        token_width=8,
        dim=2,
        boundary=(BoundaryValue("walls", "u", 0.0),),
    ),
    FinetuneConfig(steps=5),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_every_configuration_round_trips_through_json(config: Config) -> None:
    assert isinstance(config, Config)
    text = json.dumps(config.to_dict())  # plain JSON data, nothing else
    back = type(config).from_dict(json.loads(text))
    assert back == config
    assert back.to_dict() == config.to_dict()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_unknown_keys_are_an_error_that_names_them(config: Config) -> None:
    values = {**config.to_dict(), "bogus": 1}
    with pytest.raises(ValueError, match=rf"{type(config).__name__} has no fields \['bogus'\]"):
        type(config).from_dict(values)


def test_nested_configurations_are_rebuilt_and_checked() -> None:
    values = HMTConfig(field_names=("u",)).to_dict()
    built = HMTConfig.from_dict(values)
    assert isinstance(built.backbone, BackboneConfig)
    assert isinstance(built.backbone.mamba, MambaConfig)
    assert isinstance(built.backbone.curves, tuple)
    values["backbone"]["mamba"]["headdim"] = 7  # expand * d_model is not a multiple of 7
    with pytest.raises(ValueError, match="headdim"):
        HMTConfig.from_dict(values)


def test_replace_runs_the_checks() -> None:
    config = TrainConfig()
    assert config.replace(epochs=2).epochs == 2
    with pytest.raises(ValueError):
        config.replace(epochs=0)
    with pytest.raises(TypeError, match="mapping"):
        TrainConfig.from_dict(["epochs", 2])  # type: ignore[arg-type]
