"""``meshfield finetune``: physics-informed fine-tuning (options in :mod:`meshfield.refine.finetune`)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield finetune`` and its options."""
    from meshfield.refine.finetune import add_arguments as add_finetune_arguments

    p = subparsers.add_parser(
        "finetune",
        help="physics-informed fine-tuning: train a refiner, print R and MSE before/after",
    )
    add_finetune_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield finetune`` for parsed options; the exit status."""
    from meshfield.refine.finetune import run_finetune

    return run_finetune(args)
