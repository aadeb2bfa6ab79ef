"""Training and evaluation of field models.

:func:`train` (or :class:`Trainer`) fits a model of :mod:`meshfield.models` to the trajectories
of a dataset: windows of ``history`` frames (:class:`TrajectoryWindows`), a one-step loss with
input noise and optional pushforward steps (:class:`StepLoss`), AdamW with linear warm-up and
cosine decay (:func:`warmup_cosine`), gradient clipping, a checkpoint every epoch and an exact
``resume``. The same code runs data parallel under ``torchrun``
(:mod:`meshfield.train.distributed`).
:func:`evaluate` rolls a model out over whole trajectories and reports per-step errors
(relative L2, MSE, RMSE; SSIM and PSNR on grids).

Example
-------
>>> from meshfield.train import TrainConfig, train, evaluate            # doctest: +SKIP
>>> cfg = TrainConfig(model="hmt", width=64, epochs=50, out_dir="runs/heat")
>>> result = train(cfg, "data_specs/heat_plate.yaml")                     # doctest: +SKIP
>>> report = evaluate("runs/heat", "data/heat_plate", split="test")       # doctest: +SKIP
"""

from __future__ import annotations

from meshfield.train.config import TrainConfig, config_from_args, model_options
from meshfield.train.distributed import DistributedContext
from meshfield.train.evaluate import (
    evaluate,
    format_table,
    psnr,
    rollout_metrics,
    ssim,
    write_report,
)
from meshfield.train.loop import (
    StepLoss,
    Trainer,
    TrainResult,
    prepare_data,
    seed_everything,
    train,
)
from meshfield.train.samples import TrajectoryWindows, Window, collate_windows
from meshfield.train.schedule import WarmupCosine, warmup_cosine

__all__ = [
    "DistributedContext",
    "StepLoss",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrajectoryWindows",
    "WarmupCosine",
    "Window",
    "collate_windows",
    "config_from_args",
    "evaluate",
    "format_table",
    "model_options",
    "prepare_data",
    "psnr",
    "rollout_metrics",
    "seed_everything",
    "ssim",
    "train",
    "warmup_cosine",
    "write_report",
]
