"""``meshfield train``: train a model; its options are the fields of :class:`~meshfield.train.TrainConfig`.

Every field of ``TrainConfig`` but those in :data:`meshfield.train.config.NOT_OPTIONS` is an
option of its name (``batch_size``: ``--batch-size``), typed after the field and described by
the first sentence of its entry in the ``TrainConfig`` docstring
(:mod:`meshfield.cli._options`). Every such option defaults to ``None``, "not given", so that
:func:`meshfield.train.config_from_args` keeps the value of the ``--config`` file (or of the
resumed run) for it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

#: fields whose option takes other values than the field: (type, help) in place of the generated
_OVERRIDES: dict[str, tuple[type, str]] = {
    "state_warmup": (
        str,
        (
            "teacher-forced steps that warm the temporal state up before each window: 'all' "
            "(from the trajectory start), N, or 0 (default: all)"
        ),
    ),
}

#: what the command line adds to a field's description
_NOTES = {
    "model_options": "given as a JSON object",
    "grad_clip": "0 for none",
    "extra_data": "repeat for several",
}

#: values a field takes besides those its docstring lists
_MORE_CHOICES = {"device": ["cuda:N"]}

_METAVARS = {"extra_data": "FOLDER"}


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
    """``meshfield train`` for parsed options; the exit status (0 done, 2 bad input).

    With ``--resume`` the run's saved ``train.json`` is the base configuration and the given
    options change it.
    """
    from meshfield.errors import MeshfieldError
    from meshfield.train import TrainConfig, train
    from meshfield.train.config import config_from_args

    try:
        base = None
        saved = Path(args.out) / "train.json"
        if args.resume and saved.is_file() and not getattr(args, "config", None):
            base = TrainConfig.from_dict(json.loads(saved.read_text(encoding="utf-8")))
        config = config_from_args(args, base)
        result = train(
            config,
            args.source,
            resume=args.resume,
            data_dir=args.data,
            jobs=args.jobs,
            until_epoch=args.until_epoch,
        )
    except (MeshfieldError, FileNotFoundError, ValueError, TypeError, FloatingPointError) as exc:
        print(f"meshfield train: error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        status = "stopped early" if result.stopped_early else "done"
        print(
            f"{status} after epoch {result.epoch}; best epoch {result.best_epoch} "
            f"(validation rollout rel-L2 {result.best_metric:.4g})"
        )
        print(f"checkpoints {result.best} and {result.last}; log {config.log_path}")
    return 0


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``meshfield train``: the run's, then one per TrainConfig field."""
    from meshfield.cli._options import add_config_options
    from meshfield.train.config import NOT_OPTIONS, TrainConfig

    p.add_argument("source", help="dataset folder, or a data spec (.yaml) generated first if needed")
    p.add_argument("--out", required=True, help="run folder: checkpoints last/ best/, log.jsonl")
    p.add_argument("--data", default=None, help="dataset folder of a spec (default: data/<spec name>)")
    p.add_argument("--jobs", type=int, default=1, help="simulations at once if data is generated")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument("--until-epoch", type=int, default=None, help="stop after this epoch for now")
    p.add_argument("--config", default=None, help="JSON file of TrainConfig fields (options win)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    group = p.add_argument_group(
        "TrainConfig fields",
        "each sets the field of its name; one not given keeps the value of --config, of the "
        "resumed run, else the default",
    )
    add_config_options(
        group,
        TrainConfig,
        skip=NOT_OPTIONS,
        overrides=_OVERRIDES,
        notes=_NOTES,
        more_choices=_MORE_CHOICES,
        metavars=_METAVARS,
    )
