"""Tiny training configurations (the tiny heat_plate dataset is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from meshfield.train import TrainConfig

#: a MeshGraphNet small enough for a training step in a few milliseconds
TINY_MGN: dict[str, Any] = {
    "num_layers": 2,
    "decoder": {"query_neighbors": 4, "query_hidden": 8},
}


@pytest.fixture
def tiny_config(tmp_path: Path) -> TrainConfig:
    """A MeshGraphNet run of width 16 on the CPU, without progress bars."""
    return TrainConfig(
        model="meshgraphnet",
        width=16,
        model_options=TINY_MGN,
        epochs=2,
        batch_size=4,
        lr=3e-3,
        warmup_steps=2,
        noise_std=0.01,
        device="cpu",
        out_dir=str(tmp_path / "run"),
        progress=False,
    )


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)
