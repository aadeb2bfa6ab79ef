"""The ``meshfield`` command.

``meshfield --help`` lists the subcommands; each has its own ``--help``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["main", "default_mesh_path"]


def default_mesh_path() -> Path:
    """The 2D cylinder-in-channel mesh bundled with meshfield (MSH 4.1, named boundaries)."""
    return Path(__file__).parent / "assets" / "cylinder.msh"


def _describe(data: Any) -> list[str]:
    from meshfield.data import validate

    lines = []
    n, d = data.pos.shape
    lines.append(f"nodes        {n} ({d}D)")
    cells = getattr(data, "cells", None) or {}
    if cells:
        parts = ", ".join(f"{len(c)} {name}" for name, c in cells.items())
        lines.append(f"cells        {parts}")
    lines.append(f"edges        {data.edge_index.shape[1] // 2} (undirected)")
    names = list(getattr(data, "boundary_names", ["interior"]))
    counts = data.boundary.bincount(minlength=len(names)).tolist()
    groups = ", ".join(f"{name}: {count}" for name, count in zip(names, counts))
    lines.append(f"boundary     {groups}")
    if "fields" in data:
        t, _, c = data.fields.shape
        lines.append(f"fields       {t} step(s) x {c} channel(s): {', '.join(data.field_names)}")
    if "cond" in data:
        pairs = ", ".join(f"{k}={float(v):g}" for k, v in zip(data.cond_names, data.cond))
        lines.append(f"conditions   {pairs}")
    for warning in validate(data):
        lines.append(f"warning      {warning}")
    return lines


def _cmd_info(args: argparse.Namespace) -> int:
    from meshfield.io import load_mesh

    data = load_mesh(args.mesh)
    print(f"{args.mesh}")
    for line in _describe(data):
        print(f"  {line}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from meshfield.io import load_mesh, save

    data = load_mesh(args.source, cell_to_point=args.cell_to_point)
    out = save(data, args.dest)
    print(f"wrote {out}")
    return 0


def _cmd_roundtrip(args: argparse.Namespace) -> int:
    import torch

    from meshfield.io import load_mesh, save

    source = Path(args.mesh) if args.mesh else default_mesh_path()
    data = load_mesh(source)
    print(f"read {source}")
    for line in _describe(data):
        print(f"  {line}")
    # a smooth field, so the written files have something to show
    x = data.pos.to(torch.float64)
    field = torch.stack([torch.sin(x[:, 0] / 4) * torch.cos(x[:, 1] / 4), x.norm(dim=1)], dim=-1)
    data.fields = field.to(torch.float32)[None]
    data.field_names = ["wave", "radius"]
    data.times = torch.zeros(1)

    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="meshfield-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    print(f"round trip through {out_dir}:")
    for suffix in args.formats:
        path = save(data, out_dir / f"{source.stem}{suffix}")
        back = load_mesh(path)
        checks = {
            "points": torch.equal(back.pos, data.pos),
            "edges": torch.equal(back.edge_index, data.edge_index),
            "boundary": torch.equal(back.boundary, data.boundary)
            and list(back.boundary_names) == list(data.boundary_names),
            "fields": torch.equal(back.fields, data.fields),
        }
        bad = [name for name, ok in checks.items() if not ok]
        failures += bool(bad)
        status = "identical" if not bad else "DIFFERS in " + ", ".join(bad)
        print(f"  {path.name:<24} {status}")
    return 1 if failures else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from meshfield.bench.__main__ import main as bench_main

    return bench_main([args.name, *args.options])


def _cmd_plot(args: argparse.Namespace) -> int:
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
            )
    except (OSError, ValueError, IndexError) as exc:
        print(f"meshfield plot: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _cmd_datagen(args: argparse.Namespace) -> int:
    from meshfield.cases.datagen import run_from_args

    return run_from_args(args)


def _cmd_train(args: argparse.Namespace) -> int:
    from meshfield.train.loop import run_train

    return run_train(args)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from meshfield.train.evaluate import run_evaluate

    return run_evaluate(args)


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``meshfield`` command."""
    from meshfield import __version__
    from meshfield.bench import BENCHMARKS

    parser = argparse.ArgumentParser(
        prog="meshfield",
        description="Learn physical fields on unstructured meshes.",
    )
    parser.add_argument("--version", action="version", version=f"meshfield {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="summarize a mesh: nodes, cells, edges, boundary groups, fields")
    p.add_argument("mesh", help="mesh file, time series (.pvd) or OpenFOAM case directory")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("convert", help="read any supported mesh and write .vtu/.vtk/.xdmf/.pvd")
    p.add_argument("source", help="input mesh, time series or OpenFOAM case")
    p.add_argument("dest", help="output file; the suffix picks the format")
    p.add_argument("--cell-to-point", action="store_true", help="average cell data onto nodes")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser(
        "roundtrip",
        help="read a mesh (default: the bundled cylinder mesh), write every format, read back, compare",
    )
    p.add_argument("mesh", nargs="?", default=None, help="mesh to use (default: bundled cylinder.msh)")
    p.add_argument("--out", default=None, help="folder for the written files (default: a temp folder)")
    p.add_argument(
        "--formats", nargs="+", default=[".vtu", ".vtk", ".xdmf", ".pvd"], help="suffixes to write"
    )
    p.set_defaults(func=_cmd_roundtrip)

    p = sub.add_parser("bench", help="run a benchmark and print its figures")
    p.add_argument("name", choices=sorted(BENCHMARKS))
    p.add_argument("options", nargs=argparse.REMAINDER, help="options passed to the benchmark")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "plot",
        help="draw a saved result: prediction, reference, error and PDE residual (or animate it)",
        description=(
            "Draw a result written by FieldResult.save (.pvd/.vtu): prediction | reference | "
            "error | residual of one step as an image, or the whole rollout when --out ends "
            "in .gif or .mp4."
        ),
    )
    p.add_argument("result", help="result file (.pvd, .vtu, .vtk, .xdmf)")
    p.add_argument("--field", default=None, help="channel (p, U_x) or vector (U: its magnitude)")
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
    p.add_argument("--fps", type=float, default=10, help="frames per second of an animation")
    p.add_argument(
        "--backend",
        choices=["auto", "pyvista", "matplotlib"],
        default="auto",
        help="renderer (default: pyvista where VTK renders off-screen, else matplotlib)",
    )
    p.set_defaults(func=_cmd_plot)

    from meshfield.cases.datagen import add_arguments

    p = sub.add_parser("datagen", help="run every simulation of a data spec and write the dataset")
    add_arguments(p)
    p.set_defaults(func=_cmd_datagen)

    p = sub.add_parser(
        "train",
        help="train a model on a dataset folder or a data spec",
        description="Train a model; under torchrun --nproc-per-node N it runs data parallel.",
    )
    _add_train_arguments(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="roll a trained model out over a split and report errors")
    p.add_argument("checkpoint", help="run folder (its best/, else last/) or checkpoint folder")
    p.add_argument("data", help="dataset folder (meshfield datagen --out)")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--max-runs", type=int, default=None, help="only the first N runs")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``meshfield`` command."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
