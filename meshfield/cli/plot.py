"""``meshfield plot``: draw or animate a saved result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield plot`` and its options."""
    p = subparsers.add_parser(
        "plot",
        help="draw a saved result: prediction, reference, error and PDE residual (or animate it)",
        description=(
            "Draw a result written by FieldResult.save (.pvd/.vtu): prediction | reference | "
            "error | residual of one step as an image, or the whole rollout when --out ends "
            "in .gif or .mp4."
        ),
    )
    p.add_argument("result", help="result file (.pvd, .vtu, .vtk, .xdmf)")
    p.add_argument(
        "--field",
        default=None,
        help="channel (p, U_x), vector (U: its magnitude) or vorticity (of U_x, U_y in 2D)",
    )
    p.add_argument("--step", type=int, default=-1, help="time step, negative from the end (-1)")
    p.add_argument(
        "--residual",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show the PDE residual when the file has one (default: yes)",
    )
    p.add_argument(
        "--component", default=None, help="residual component (name or index; default: norm)"
    )
    p.add_argument("--out", default="residual.png", help="image, or .gif/.mp4 animation")
    p.add_argument("--edges", action="store_true", help="draw the mesh edges")
    p.add_argument(
        "--full-range",
        action="store_true",
        help="error and residual colours up to their maximum (default: 99th percentile)",
    )
    p.add_argument("--fps", type=float, default=10, help="frames per second of an animation")
    p.add_argument(
        "--backend",
        choices=["auto", "pyvista", "matplotlib"],
        default="auto",
        help="renderer (default: pyvista where VTK renders off-screen, else matplotlib)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield plot`` for parsed options; the exit status (0 done, 2 bad input)."""
    from meshfield.result import FieldResult
    from meshfield.viz import animate, residual_map

    component = args.component
    if component is not None and component.lstrip("-").isdigit():
        component = int(component)
    out = Path(args.out)
    try:
        result = FieldResult.load(args.result)
        if out.suffix.lower() in (".gif", ".mp4"):
            path = animate(
                result,
                field=args.field,
                path=out,
                fps=args.fps,
                residual=args.residual,
                component=component,
                show_edges=args.edges,
                backend=args.backend,
                robust=not args.full_range,
                progress=True,
            )
        else:
            path = residual_map(
                result,
                field=args.field,
                step=args.step,
                residual=args.residual,
                component=component,
                path=out,
                show_edges=args.edges,
                backend=args.backend,
                robust=not args.full_range,
            )
    except (OSError, ValueError, IndexError) as exc:
        print(f"meshfield plot: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
