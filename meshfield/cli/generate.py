"""``meshfield generate``: fields on a mesh from physical conditions, with a trained model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from meshfield.cli._common import _parse_conditions, _parse_renames, _print_warnings


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield generate`` and its options."""
    p = subparsers.add_parser(
        "generate",
        help="generate fields on a mesh from physical conditions with a trained model",
        description=(
            "Roll a trained model out on a mesh for the given conditions, compute the PDE "
            "residual at every node and step, and write the result (.pvd: every step, "
            ".vtu/.vtk/.xdmf: the last). Without a mesh the model's bundled mesh is used."
        ),
    )
    p.add_argument("mesh", nargs="?", default=None, help="mesh file (or use --mesh)")
    p.add_argument("--mesh", dest="mesh_option", default=None, metavar="PATH", help="mesh file")
    p.add_argument(
        "--model",
        default="cylinder_wake",
        help="pretrained name, checkpoint directory or run folder (default: cylinder_wake)",
    )
    p.add_argument(
        "--cond",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a physical condition, e.g. --cond Re=150 (repeat for several)",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="steps to roll out (default: from the checkpoint)"
    )
    p.add_argument("--out", default="result.pvd", help="result file (default: result.pvd)")
    p.add_argument("--residual-map", default=None, metavar="PNG", help="also draw the last step")
    p.add_argument(
        "--field",
        default=None,
        help="field of the residual map: a channel, a vector (U: its magnitude) or vorticity "
        "(default: vorticity for a 2D flow, else the first field)",
    )
    p.add_argument("--refine", action="store_true", help="apply the checkpoint's physics refiner")
    p.add_argument(
        "--residual",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compute the PDE residual (default: yes)",
    )
    p.add_argument(
        "--initial",
        choices=["mesh"],
        default=None,
        help="start from the fields the mesh carries (e.g. an OpenFOAM case's time steps) "
        "instead of generating the first frame",
    )
    p.add_argument(
        "--boundary",
        action="append",
        default=[],
        metavar="NAME=TRAINED",
        help="rename a boundary group of the mesh to a name the model was trained with, e.g. "
        "--boundary top=walls (repeat for several)",
    )
    p.add_argument(
        "--compile", action="store_true", help="run the model step under torch.compile"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


_RESULT_SUFFIXES = (".pvd", ".vtu", ".vtk", ".xdmf")


def run(args: argparse.Namespace) -> int:
    """``meshfield generate`` for parsed options; the exit status (0 done, 2 bad input)."""
    import time
    import warnings

    from meshfield.api import generate

    def fail(text: object) -> int:
        print(f"meshfield generate: error: {text}", file=sys.stderr)
        return 2

    if args.mesh and args.mesh_option and args.mesh != args.mesh_option:
        return fail(f"two meshes given ({args.mesh} and --mesh {args.mesh_option}); pass one")
    mesh = args.mesh or args.mesh_option
    out = Path(args.out)
    if out.suffix.lower() not in _RESULT_SUFFIXES:
        return fail(f"--out {out}: expected one of {', '.join(_RESULT_SUFFIXES)}")
    try:
        conditions = _parse_conditions(args.cond)
        renames = _parse_renames(args.boundary)
    except ValueError as exc:
        return fail(exc)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = generate(
                mesh,
                conditions,
                model=args.model,
                steps=args.steps,
                refine=args.refine,
                residual=args.residual,
                device=args.device,
                progress=not args.quiet,
                initial=args.initial,
                compile=args.compile,
                boundary_map=renames or None,
            )
        except (OSError, ValueError, TypeError, ImportError, FloatingPointError) as exc:
            _print_warnings(caught)
            return fail(exc)
    elapsed = time.perf_counter() - start
    _print_warnings(caught)

    graph = result.mesh
    cells = sum(len(c) for k, c in (getattr(graph, "cells", None) or {}).items() if k != "line")
    steps = result.num_steps - 1
    times = result.times
    conds = ", ".join(f"{k}={v:g}" for k, v in result.cond.items()) or "none"
    print(f"model      {args.model}  ({conds})")
    print(
        f"mesh       {mesh or 'default mesh of the model'}: {result.num_nodes} nodes, "
        f"{cells} cells, {graph.pos.shape[1]}D"
    )
    print(
        f"steps      {result.num_steps} frames, fields {', '.join(result.field_names)}, "
        f"t = {float(times[0]):g} .. {float(times[-1]):g}"
    )
    print(f"time       {elapsed:.2f} s (loading, {steps} step(s), residual)")
    if result.residual is not None:
        parts = ", ".join(f"{n} {result.metrics[f'R_{n}']:.3g}" for n in result.residual_names)
        print(
            f"residual   R {result.metrics['R']:.3g} (mean square over interior nodes and "
            f"steps; {parts})"
        )
    else:
        print("residual   not computed")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        path = result.save(out)
    except (OSError, ValueError) as exc:
        return fail(exc)
    print(f"wrote      {path}")
    if args.residual_map:
        from meshfield.viz import residual_map

        try:
            field = args.field
            if field is None and {"U_x", "U_y"} <= set(result.field_names) and int(
                result.mesh.pos.shape[1]
            ) == 2:
                field = "vorticity"  # a 2D flow: the vorticity shows its vortices plainly
            picture = residual_map(result, field=field, step=-1, path=args.residual_map)
        except (OSError, ValueError, IndexError) as exc:
            return fail(exc)
        print(f"wrote      {picture}")
    return 0
