"""``meshfield datagen``: run every simulation of a data spec and write the dataset.

``meshfield datagen SPEC --out DIR [--jobs N] [--split S] [--from-runs FOLDER]``: the options
and the exit status; the work is :func:`meshfield.cases.datagen.datagen`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from meshfield.cases.datagen import DatagenError, datagen
from meshfield.errors import SpecError

__all__ = ["add_arguments", "add_parser", "build_parser", "main", "run", "run_from_args"]


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield datagen`` and its options."""
    p = subparsers.add_parser("datagen", help="run every simulation of a data spec and write the dataset")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield datagen`` for parsed options; the exit status."""
    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``meshfield datagen``."""
    parser = argparse.ArgumentParser(
        prog="meshfield datagen",
        description="Run every simulation of a data spec and write the dataset.",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``datagen`` options to ``parser`` (shared by ``meshfield datagen``)."""
    parser.add_argument("spec", help="data spec (YAML), e.g. data_specs/heat_plate.yaml")
    parser.add_argument("--out", required=True, help="dataset folder (resumed when it exists)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (default: 1)")
    parser.add_argument(
        "--split",
        action="append",
        choices=("train", "val", "test"),
        default=None,
        help="only this split (repeat for several; default: all)",
    )
    parser.add_argument(
        "--from-runs",
        default=None,
        metavar="FOLDER",
        help="read finished OpenFOAM cases from FOLDER (one per run, named by its conditions, "
        "e.g. Re=150) instead of simulating",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``datagen`` for parsed arguments; the exit status (0 ok, 1 failed runs, 2 bad input)."""
    try:
        out = datagen(
            args.spec,
            args.out,
            jobs=args.jobs,
            splits=args.split,
            progress=not args.quiet,
            from_runs=args.from_runs,
        )
    except DatagenError as exc:
        print(f"meshfield datagen: {exc}", file=sys.stderr)
        return 1
    except (SpecError, FileNotFoundError, ImportError) as exc:
        print(f"meshfield datagen: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``meshfield datagen SPEC --out DIR [--jobs N] [--split S]``."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    return run_from_args(args)


if __name__ == "__main__":
    raise SystemExit(main())
