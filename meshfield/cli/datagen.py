"""``meshfield datagen``: run every simulation of a data spec (options in :mod:`meshfield.cases.datagen`)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield datagen`` and its options."""
    from meshfield.cases.datagen import add_arguments

    p = subparsers.add_parser("datagen", help="run every simulation of a data spec and write the dataset")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield datagen`` for parsed options; the exit status."""
    from meshfield.cases.datagen import run_from_args

    return run_from_args(args)
