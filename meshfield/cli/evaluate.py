"""``meshfield evaluate``: roll a trained model out over a split and report errors."""

from __future__ import annotations

import argparse
import sys
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


def _parse_probe(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        msg = f"--probe: expected coordinates like 3.5,0 (got {text!r})"
        raise ValueError(msg) from None


def run(args: argparse.Namespace) -> int:
    """``meshfield evaluate`` for parsed options: the table, and the report if ``--out``."""
    from meshfield.errors import MeshfieldError
    from meshfield.evaluate import evaluate, format_rollout_table, format_table

    try:
        report = evaluate(
            args.checkpoint,
            args.data,
            split=args.split,
            out=args.out,
            max_runs=args.max_runs,
            device=args.device,
            progress=not args.quiet,
            pde=None if args.pde == "none" else args.pde,
            refine=args.refine,
            probe=_parse_probe(getattr(args, "probe", None)),
            generate=bool(getattr(args, "generate", False)),
        )
    except (MeshfieldError, FileNotFoundError, ValueError) as exc:
        print(f"meshfield evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(f"{report.get('checkpoint', '')} on {args.data} ({args.split}), {report['steps']} steps:")
    print(format_table(report))
    print()
    print(format_rollout_table(report))
    if args.out:
        print(f"wrote {args.out}")
    return 0
