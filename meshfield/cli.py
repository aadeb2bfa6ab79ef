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


def _numbers(values: Any) -> str:
    return ", ".join("?" if v is None else f"{float(v):.4g}" for v in values)


def _describe_checkpoint(resolved: Any) -> list[str]:
    """What a checkpoint holds: model, fields, conditions, normalization, spec, metadata."""
    info, model = resolved.info, resolved.model
    lines = []
    parameters = sum(p.numel() for p in model.parameters())
    config = info.get("config") or {}
    shape = [f"width {model.width}", f"history {model.history}", f"{config.get('dim', '?')}D"]
    pattern = (config.get("backbone") or {}).get("pattern")
    if pattern:
        shape.append(f"pattern {pattern}")
    lines.append(
        f"model        {type(model).__name__} ({info.get('kind')}), {parameters:,} parameters"
    )
    lines.append(f"             {', '.join(shape)}")
    spec = info.get("data_spec") if isinstance(info.get("data_spec"), dict) else {}
    units = spec.get("fields") if isinstance(spec.get("fields"), dict) else {}
    fields = ", ".join(info.get("field_names") or [])
    if units:
        fields += "  (" + ", ".join(f"{k}: {v}" for k, v in units.items()) + ")"
    lines.append(f"fields       {fields}")
    ranges = info.get("cond_ranges") or {}
    if info.get("cond_names"):
        conds = ", ".join(
            f"{name} in [{_numbers(ranges.get(name) or [None, None])}]"
            for name in info["cond_names"]
        )
        lines.append(f"conditions   {conds} (training range)")
    else:
        lines.append("conditions   none")
    norm = info.get("normalization") or {}
    names = list(info.get("field_names") or [])
    if norm.get("field_mean") is not None:
        pairs = ", ".join(
            f"{n} {m:.4g}+-{s:.4g}"
            for n, m, s in zip(names, norm["field_mean"], norm.get("field_std") or [])
        )
        lines.append(f"normalization fields (mean+-std): {pairs}")
    if norm.get("delta_std") is not None:
        lines.append(f"             increments std: {_numbers(norm['delta_std'])}")
    if norm.get("cond_mean"):
        pairs = ", ".join(
            f"{n} {m:.4g}+-{s:.4g}"
            for n, m, s in zip(info.get("cond_names") or [], norm["cond_mean"], norm["cond_std"])
        )
        lines.append(f"             conditions (mean+-std): {pairs}")
    if norm.get("pos_center") is not None:
        lines.append(
            f"             positions: centre ({_numbers(norm['pos_center'])}), scale "
            f"{_numbers(norm.get('pos_scale') or [])}"
        )
    if spec:
        pde = spec.get("pde") if isinstance(spec.get("pde"), dict) else {}
        parts = [f"case {spec.get('case', '?')}"]
        if pde.get("name"):
            constants = ", ".join(f"{k}={v}" for k, v in (pde.get("constants") or {}).items())
            parts.append(f"pde {pde['name']}" + (f" ({constants})" if constants else ""))
        time = spec.get("time") if isinstance(spec.get("time"), dict) else {}
        if time.get("steady"):
            parts.append("steady")
        elif time:
            parts.append(
                f"time {time.get('spin_up', 0)}..{time.get('end')} every {time.get('interval')}"
            )
        lines.append(f"spec         {', '.join(parts)}")
    else:
        lines.append("spec         none (no residual without a PDE)")
    metadata = info.get("metadata") or {}
    shown = {k: v for k, v in metadata.items() if not isinstance(v, (dict, list))}
    if shown:
        lines.append("metadata     " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    for key in sorted(k for k, v in metadata.items() if isinstance(v, (dict, list))):
        lines.append(f"             {key}: {type(metadata[key]).__name__} of {len(metadata[key])}")
    weights = info.get("weights") or {}
    if weights:
        lines.append(
            f"weights      {weights.get('file')}, {weights.get('bytes', 0) / 1e6:.2f} MB, "
            f"sha256 {str(weights.get('sha256', '?'))[:12]}"
        )
    if resolved.mesh is not None:
        lines.append(f"default mesh {resolved.mesh}")
    return lines


def _is_checkpoint_like(target: str) -> bool:
    from meshfield.pretrained import list_pretrained

    path = Path(target).expanduser()
    if any((c / "config.json").is_file() for c in (path, path / "best", path / "last")):
        return True
    return not path.exists() and target in list_pretrained()


def _cmd_info(args: argparse.Namespace) -> int:
    from meshfield.io import load_mesh

    if _is_checkpoint_like(args.mesh):
        from meshfield.api import resolve_model

        try:
            resolved = resolve_model(args.mesh)
        except (OSError, ValueError) as exc:
            print(f"meshfield info: error: {exc}", file=sys.stderr)
            return 2
        label = f" (pretrained {resolved.name!r})" if resolved.name else ""
        print(f"{resolved.path}{label}")
        for line in _describe_checkpoint(resolved):
            print(f"  {line}")
        return 0
    data = load_mesh(args.mesh)
    print(f"{args.mesh}")
    for line in _describe(data):
        print(f"  {line}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from meshfield.io import load_mesh, save

    data = load_mesh(args.source, cell_to_point=args.cell_to_point)
    if args.mesh_only:
        for key in _DATA_KEYS:
            if key in data:
                del data[key]
    out = save(data, args.dest)
    print(f"wrote {out}")
    return 0


#: what ``meshfield convert --mesh-only`` leaves out: every value that is not the mesh
_DATA_KEYS = ("fields", "field_names", "times", "cell_fields", "cell_field_names", "cond",
              "cond_names", "run_id", "split")


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


def _cmd_datagen(args: argparse.Namespace) -> int:
    from meshfield.cases.datagen import run_from_args

    return run_from_args(args)


def _cmd_train(args: argparse.Namespace) -> int:
    from meshfield.train.loop import run_train

    return run_train(args)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from meshfield.refine.finetune import run_finetune

    return run_finetune(args)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from meshfield.evaluate import run_evaluate

    return run_evaluate(args)


def _parse_conditions(items: list[str] | None) -> dict[str, float]:
    """``["Re=150", ...]`` -> ``{"Re": 150.0}``."""
    conditions: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            msg = f"--cond expects NAME=VALUE, e.g. --cond Re=150 (got {item!r})"
            raise ValueError(msg)
        if name in conditions:
            msg = f"--cond {name} is given twice"
            raise ValueError(msg)
        try:
            conditions[name] = float(value)
        except ValueError:
            msg = f"--cond {item!r}: {value.strip()!r} is not a number"
            raise ValueError(msg) from None
    return conditions


def _parse_renames(items: list[str] | None) -> dict[str, str]:
    """``["top=walls", ...]`` -> ``{"top": "walls"}``."""
    renames: dict[str, str] = {}
    for item in items or []:
        name, sep, trained = (part.strip() for part in item.partition("="))
        if not sep or not name or not trained:
            msg = f"--boundary expects NAME=TRAINED, e.g. --boundary top=walls (got {item!r})"
            raise ValueError(msg)
        if name in renames:
            msg = f"--boundary {name} is given twice"
            raise ValueError(msg)
        renames[name] = trained
    return renames


_RESULT_SUFFIXES = (".pvd", ".vtu", ".vtk", ".xdmf")


def _print_warnings(caught: list[Any]) -> None:
    """Show what generate warned about (extrapolation, no residual), not library deprecations."""
    quiet = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
    for w in caught:
        if not issubclass(w.category, quiet):
            print(f"warning: {w.message}", file=sys.stderr)


def _cmd_generate(args: argparse.Namespace) -> int:
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
    p.add_argument(
        "--extra-data",
        action="append",
        default=None,
        metavar="FOLDER",
        help="another dataset (folder or spec) whose train and val runs join the run's, e.g. the "
        "same case on a finer mesh (repeat for several)",
    )
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
        (
            "--state-warmup",
            str,
            "teacher-forced steps that warm the temporal state up before each window: 'all' "
            "(from the trajectory start), N, or 0 (default: all)",
        ),
        (
            "--horizon-ramp-epochs",
            int,
            "grow the unrolled horizon from 1 to 1 + pushforward steps over these epochs",
        ),
        ("--init-from", str, "start from the weights of this checkpoint or run folder"),
        ("--time-budget-s", float, "stop training after this many seconds of steps"),
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
    p.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="run the model step under torch.compile (eager again where it fails)",
    )


def _expected_errors() -> tuple[type[BaseException], ...]:
    from meshfield.errors import MeshfieldError

    return (MeshfieldError, ValueError, TypeError, OSError, ImportError, FloatingPointError)


#: errors a command reports in one line (bad input, missing files or tools, divergence);
#: anything else is a bug and keeps its traceback
_EXPECTED = _expected_errors()


def _one_line(exc: BaseException) -> str:
    """The message of an error on one line (the first non-empty one; the type if none)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``meshfield`` command."""
    from meshfield import __version__
    from meshfield.bench import BENCHMARKS

    parser = argparse.ArgumentParser(
        prog="meshfield",
        description="Learn physical fields on unstructured meshes.",
    )
    parser.add_argument("--version", action="version", version=f"meshfield {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (before COMMAND)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "info",
        help="summarize a mesh (nodes, cells, boundary groups, fields) or what a checkpoint holds",
        description=(
            "For a mesh: nodes, cells, edges, boundary groups and fields. For a checkpoint "
            "directory, a run folder or a pretrained model name: the model kind and parameter "
            "count, fields and units, conditions with their training ranges, normalization, "
            "data spec and metadata."
        ),
    )
    p.add_argument(
        "mesh",
        metavar="TARGET",
        help="mesh file, time series (.pvd), OpenFOAM case, checkpoint directory or pretrained name",
    )
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
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
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("convert", help="read any supported mesh and write .vtu/.vtk/.xdmf/.pvd")
    p.add_argument("source", help="input mesh, time series or OpenFOAM case")
    p.add_argument("dest", help="output file; the suffix picks the format")
    p.add_argument("--cell-to-point", action="store_true", help="average cell data onto nodes")
    p.add_argument(
        "--mesh-only",
        action="store_true",
        help="write only the mesh (points, cells, boundary groups), no fields or conditions",
    )
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
    p.set_defaults(func=_cmd_evaluate)

    from meshfield.refine.finetune import add_arguments as add_finetune_arguments

    p = sub.add_parser(
        "finetune",
        help="physics-informed fine-tuning: train a refiner, print R and MSE before/after",
    )
    add_finetune_arguments(p)
    p.set_defaults(func=_cmd_finetune)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``meshfield`` command."""
    from meshfield.runtime import tune_malloc

    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    tune_malloc()  # large activations reuse heap memory instead of fresh page-faulted maps
    try:
        return int(args.func(args) or 0)
    except _EXPECTED as exc:
        if args.debug:
            raise
        print(f"meshfield {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
