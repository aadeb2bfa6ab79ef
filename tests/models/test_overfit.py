"""Every model can fit one tiny trajectory with the real trainer (one-step loss falls by 100x)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _model_helpers import grid_mesh, tiny_hmt_config

from meshfield.models import HMT, FieldModel, MeshGraphNet, Transformer
from meshfield.train import StepLoss, TrainConfig, Trainer, collate_windows

#: the trajectory is given this many times, so that an epoch is this many optimizer steps (one
#: checkpoint per epoch instead of one per step); the batches are drawn from its 4 windows
COPIES = 25


def _one_step_loss(trainer: Trainer) -> float:
    """The one-step loss on the trajectory's windows (each once), as the trainer computes it."""
    windows = [trainer.windows[i] for i in range(len(trainer.windows) // COPIES)]
    loss = StepLoss(trainer.model, trainer.config.history, initial_weight=0.0)
    with torch.no_grad():
        return float(loss(collate_windows(windows))[0])


def _fit(model: FieldModel, out_dir: Path, steps: int) -> tuple[float, float, Trainer]:
    mesh = grid_mesh(6, steps=6)
    model.normalizer.fit([mesh])
    config = TrainConfig(
        history=model.history,
        epochs=steps // COPIES,
        batch_size=4,
        lr=3e-3,
        weight_decay=0.0,
        warmup_steps=0,
        schedule="constant",
        grad_clip=None,
        initial_weight=0.0,  # the one-step loss alone, not the initial head
        device="cpu",
        out_dir=str(out_dir),
        progress=False,
    )
    trainer = Trainer(config, [mesh] * COPIES, model=model)
    assert trainer.model is model
    # 4 windows of history + 1 frames in the 6 frames, each COPIES times
    assert len(trainer.windows) == (mesh.fields.size(0) - model.history) * COPIES
    assert trainer.steps_per_epoch == COPIES
    first = _one_step_loss(trainer)
    result = trainer.fit()
    assert result.epoch == config.epochs and trainer.global_step == steps
    return first, _one_step_loss(trainer), trainer


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hmt", "meshgraphnet", "transformer"])
def test_overfit_one_trajectory(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    common = {
        "field_names": ("u", "v"),
        "cond_names": ("c",),
        "history": 2,
        "width": 16,
    }
    model = {
        "hmt": lambda: HMT(tiny_hmt_config()),
        "meshgraphnet": lambda: MeshGraphNet(num_layers=3, **common),
        "transformer": lambda: Transformer(num_layers=2, num_heads=2, **common),
    }[name]()
    first, last, trainer = _fit(model, tmp_path / "run", 300)
    assert last < first / 100, (first, last)
    # the trainer's own log says the same: its training loss fell over the run
    log = [json.loads(line) for line in trainer.log_path.read_text().splitlines()]
    assert len(log) == 300 // COPIES
    assert log[-1]["step_loss"] < log[0]["step_loss"] / 10, (log[0], log[-1])
