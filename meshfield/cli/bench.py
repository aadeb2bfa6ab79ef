"""``meshfield bench``: run a benchmark of :mod:`meshfield.bench`."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield bench`` and its options."""
    from meshfield.bench import BENCHMARKS

    p = subparsers.add_parser("bench", help="run a benchmark and print its figures")
    p.add_argument("name", choices=sorted(BENCHMARKS))
    p.add_argument("options", nargs=argparse.REMAINDER, help="options passed to the benchmark")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield bench`` for parsed options: the benchmark's exit status."""
    from meshfield.bench.__main__ import main as bench_main

    return bench_main([args.name, *args.options])
