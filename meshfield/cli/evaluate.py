"""``meshfield evaluate``: roll a trained model out over a split and report errors."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield evaluate`` and its options."""
    p = subparsers.add_parser("evaluate", help="roll a trained model out over a split and report errors")
    p.add_argument("checkpoint", help="run folder (its best/, else last/), checkpoint folder or pretrained name")
    p.add_argument("data", help="dataset folder (meshfield datagen --out)")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--max-runs", type=int, default=None, help="only the first N runs")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--pde",
        default="auto",
        help="score R, R_ref and MSE-R with this PDE (a name, 'auto': the data spec's, "
        "'none': no physics scores; default: auto)",
    )
    p.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also score the rollouts corrected by the checkpoint's physics refiner "
        "(default: when it has one)",
    )
    p.add_argument(
        "--probe",
        default=None,
        help="X,Y(,Z): where the Strouhal number and amplitude are measured (default: the "
        "case's probe, else where the reference fluctuates most)",
    )
    p.add_argument(
        "--generate",
        action="store_true",
        help="also generate each run from its conditions alone and report its Strouhal "
        "number and amplitude",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield evaluate`` for parsed options; the exit status."""
    from meshfield.evaluate import run_evaluate

    return run_evaluate(args)
