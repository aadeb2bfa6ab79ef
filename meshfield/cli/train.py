"""``meshfield train``: train a model; its options are the fields of :class:`~meshfield.train.TrainConfig`."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield train`` and its options."""
    p = subparsers.add_parser(
        "train",
        help="train a model on a dataset folder or a data spec",
        description="Train a model; under torchrun --nproc-per-node N it runs data parallel.",
    )
    _add_train_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield train`` for parsed options; the exit status."""
    from meshfield.train.loop import run_train

    return run_train(args)


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``meshfield train``; each maps to the TrainConfig field of its name."""
    p.add_argument("source", help="dataset folder, or a data spec (.yaml) generated first if needed")
    p.add_argument("--out", required=True, help="run folder: checkpoints last/ best/, log.jsonl")
    p.add_argument(
        "--model",
        default=None,
        help="hmt, meshgraphnet, transformer, hmt-no-mamba or hmt-no-attention (default: hmt)",
    )
    p.add_argument("--data", default=None, help="dataset folder of a spec (default: data/<spec name>)")
    p.add_argument(
        "--extra-data",
        action="append",
        default=None,
        metavar="FOLDER",
        help="another dataset (folder or spec) whose train and val runs join the run's, e.g. the "
        "same case on a finer mesh (repeat for several)",
    )
    p.add_argument("--jobs", type=int, default=1, help="simulations at once if data is generated")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument("--until-epoch", type=int, default=None, help="stop after this epoch for now")
    p.add_argument("--config", default=None, help="JSON file of TrainConfig fields (options win)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    options = [
        ("--width", int, "model width (default: the model's, 128)"),
        ("--history", int, "input frames per step (default: 1)"),
        ("--epochs", int, "epochs (default: 20)"),
        ("--batch-size", int, "windows per step and process (default: 4)"),
        ("--steps-per-epoch", int, "at most this many steps per epoch"),
        ("--lr", float, "peak learning rate (default: 1e-3)"),
        ("--weight-decay", float, "AdamW weight decay (default: 1e-4)"),
        ("--warmup-steps", int, "linear warm-up steps (default: 100)"),
        ("--schedule", str, "cosine or constant (default: cosine)"),
        ("--min-lr", float, "learning rate at the end of the decay (default: 0)"),
        ("--grad-clip", float, "gradient-norm clip, 0 for none (default: 1.0)"),
        ("--noise-std", float, "input noise in field standard deviations (default: 0)"),
        ("--pushforward-steps", int, "extra unrolled steps in the loss (default: 0)"),
        (
            "--state-warmup",
            str,
            "teacher-forced steps that warm the temporal state up before each window: 'all' "
            "(from the trajectory start), N, or 0 (default: all)",
        ),
        (
            "--horizon-ramp-epochs",
            int,
            "grow the unrolled horizon from 1 to 1 + pushforward steps over these epochs",
        ),
        ("--init-from", str, "start from the weights of this checkpoint or run folder"),
        ("--time-budget-s", float, "stop training after this many seconds of steps"),
        ("--initial-weight", float, "loss weight of the initial head (default: 1.0)"),
        ("--val-runs", int, "validation runs rolled out per epoch (default: all)"),
        ("--patience", int, "early stop after this many epochs without improvement"),
        ("--min-delta", float, "smallest improvement of the validation error (default: 0)"),
        ("--seed", int, "random seed (default: 0)"),
        ("--num-workers", int, "data-loading workers (default: 0)"),
        ("--device", str, "auto, cpu, cuda or cuda:N (default: auto)"),
        ("--model-options", str, "JSON object of model configuration fields"),
    ]
    for flag, kind, text in options:
        p.add_argument(flag, type=kind, default=None, help=text)
    p.add_argument(
        "--pushforward-grad",
        action="store_true",
        default=None,
        help="backpropagate through the unrolled steps (default: detach them)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="run the model step under torch.compile (eager again where it fails)",
    )
