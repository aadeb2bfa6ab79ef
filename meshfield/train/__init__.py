"""Training of field models.

:func:`train` (or :class:`Trainer`) fits a model of :mod:`meshfield.models` to the trajectories
of a dataset: windows of ``history`` frames (:class:`TrajectoryWindows`), a one-step loss with
input noise and optional pushforward steps (:class:`StepLoss`), AdamW with linear warm-up and
cosine decay (:func:`warmup_cosine`), gradient clipping, a checkpoint every epoch and an exact
``resume``. The same code runs data parallel under ``torchrun``
(:mod:`meshfield.train.distributed`).
Evaluation of the trained model is :mod:`meshfield.evaluate`.

Example
-------
>>> from meshfield.train import TrainConfig, train                      # doctest: +SKIP
>>> from meshfield.evaluate import evaluate                             # doctest: +SKIP
>>> cfg = TrainConfig(model="hmt", width=64, epochs=50, out_dir="runs/heat")
>>> result = train(cfg, "data_specs/heat_plate.yaml")                     # doctest: +SKIP
>>> report = evaluate("runs/heat", "data/heat_plate", split="test")       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from meshfield.metrics.image import psnr, ssim
from meshfield.metrics.trajectory import rollout_metrics
from meshfield.train.config import TrainConfig, config_from_args, model_options
from meshfield.train.distributed import DistributedContext
from meshfield.train.loop import (
    StepLoss,
    Trainer,
    TrainResult,
    prepare_data,
    seed_everything,
    train,
)
from meshfield.train.samples import (
    TrajectoryStreams,
    TrajectoryWindows,
    Window,
    collate_windows,
)
from meshfield.train.schedule import WarmupCosine, warmup_cosine

__all__ = [
    "DistributedContext",
    "StepLoss",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrajectoryStreams",
    "TrajectoryWindows",
    "WarmupCosine",
    "Window",
    "collate_windows",
    "config_from_args",
    "model_options",
    "prepare_data",
    "psnr",
    "rollout_metrics",
    "seed_everything",
    "ssim",
    "train",
    "warmup_cosine",
]

#: names that moved to :mod:`meshfield.evaluate` (evaluation sits above training and the refiner)
_MOVED_TO_EVALUATE = ("evaluate", "format_table", "write_report")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_EVALUATE:
        import meshfield.evaluate  # a deprecated alias: the one import of a higher layer here
        from meshfield._moved import moved_name

        return moved_name(__name__, name, meshfield.evaluate)
    msg = f"module 'meshfield.train' has no attribute {name!r}"
    raise AttributeError(msg)
