"""``meshfield finetune``: physics-informed fine-tuning, R and MSE before and after.

The command's own options (what to fine-tune, on what, where to write) come first; then one
option per field of :class:`~meshfield.refine.finetune.FinetuneConfig` (``w_data``:
``--w-data``), generated from its docstring (:mod:`meshfield.cli._options`).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: FinetuneConfig fields without an option of their name: ``--quiet`` sets ``progress``
_NOT_OPTIONS = frozenset({"progress"})

#: what the command line adds to a field's description
_NOTES = {"grad_clip": "0 for none"}


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield finetune`` and its options."""
    p = subparsers.add_parser(
        "finetune",
        help="physics-informed fine-tuning: train a refiner, print R and MSE before/after",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield finetune`` for parsed options; the exit status."""
    return run_finetune(args)


def _config_fields() -> list[str]:
    import dataclasses

    from meshfield.refine.finetune import FinetuneConfig

    return [f.name for f in dataclasses.fields(FinetuneConfig) if f.name not in _NOT_OPTIONS]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``meshfield finetune``: the command's, then one per FinetuneConfig field."""
    from meshfield.cli._options import add_config_options
    from meshfield.refine.finetune import FinetuneConfig

    p.add_argument("checkpoint", help="checkpoint folder, run folder (best/, else last/) or pretrained name")
    p.add_argument("data", help="dataset folder (meshfield datagen --out)")
    p.add_argument("--pde", required=True, help="navier_stokes, heat, burgers, "
                   "advection_diffusion, wave or poisson")
    p.add_argument("--pde-param", action="append", help="PDE parameter name=value (repeatable)")
    p.add_argument("--out", required=True, help="checkpoint folder to write (model + refiner)")
    p.add_argument("--split", default="train", help="split to fine-tune on (default: train)")
    p.add_argument("--eval-split", default="test", help="split of the before/after table "
                   "(default: test)")
    p.add_argument("--test-time", default=None, metavar="MESH",
                   help="fine-tune on this one mesh (mesh file or graph .safetensors) instead")
    p.add_argument("--cond", action="append", help="condition name=value for --test-time")
    p.add_argument("--frames", type=int, default=None, help="frames to generate (--test-time)")
    p.add_argument("--dt", type=float, default=None, help="time step without stored times")
    p.add_argument("--bc", action="append", help="Dirichlet value group:field=value[,...] "
                   "(value: number or condition name; default: the case's)")
    p.add_argument("--no-default-bc", action="store_true", help="no boundary values by default")
    p.add_argument("--max-runs", type=int, default=None, help="fine-tune on the first N runs only")
    p.add_argument("--max-eval-runs", type=int, default=None,
                   help="compare on the first N runs only")
    p.add_argument("--log", default=None, help="JSONL log (default: OUT.jsonl)")
    p.add_argument("--report", default=None, help="write the before/after table as JSON")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    group = p.add_argument_group(
        "FinetuneConfig fields", "each sets the field of its name; one not given keeps the default"
    )
    add_config_options(group, FinetuneConfig, skip=_NOT_OPTIONS, notes=_NOTES)


def run_finetune(args: argparse.Namespace) -> int:
    """``meshfield finetune`` for parsed options; the exit status (0 done, 2 bad input)."""
    import sys

    from meshfield.checkpoint import load_model
    from meshfield.data import load_dataset, load_spec
    from meshfield.errors import MeshfieldError
    from meshfield.physics.registry import make_pde
    from meshfield.pretrained import resolve_checkpoint
    from meshfield.refine.finetune import (
        FinetuneConfig,
        compare_refinement,
        default_boundary_values,
        finetune,
        finetune_test_time,
        format_refinement_table,
    )
    from meshfield.refine.refiner import BoundaryValue, _cond_dict

    try:
        model = load_model(resolve_checkpoint(args.checkpoint))
        pde = make_pde(args.pde, **_parse_pairs(args.pde_param, "--pde-param"))
        data_dir = Path(args.data)
        spec_file = data_dir / "spec.yaml"
        case = load_spec(spec_file).case if spec_file.is_file() else None
        boundary = [bc for text in args.bc or () for bc in BoundaryValue.parse(text)]
        if not boundary and not args.no_default_bc:
            boundary = default_boundary_values(case, model.cond_names)
        options = {name: getattr(args, name) for name in _config_fields()
                    if getattr(args, name, None) is not None}
        if options.get("grad_clip") == 0:
            options["grad_clip"] = None
        config = FinetuneConfig(progress=not args.quiet, **options)
        evaluation = list(load_dataset(data_dir, split=args.eval_split))
        if args.max_eval_runs is not None:
            evaluation = evaluation[: args.max_eval_runs]
        log = Path(f"{args.out}.jsonl") if args.log is None else Path(args.log)
        if args.test_time is None:
            train_set = load_dataset(data_dir, split=args.split)
            result = finetune(model, train_set, pde, config=config, boundary=boundary,
                              out=args.out, log=log, resume=args.resume, max_runs=args.max_runs)
        else:
            from meshfield.data.store import load_graph
            from meshfield.io import load_mesh

            source = Path(args.test_time)
            mesh = load_graph(source) if source.suffix == ".safetensors" else load_mesh(source)
            cond = _parse_pairs(args.cond, "--cond")
            reference = mesh if "fields" in mesh else None
            if reference is None:
                evaluation = [g for g in evaluation if all(
                    abs(_cond_dict(model, g, None).get(k, math.nan) - float(v)) < 1e-9
                    for k, v in cond.items())]
            else:
                evaluation = [reference]
            for name, value in _cond_dict(model, mesh, None).items():
                cond.setdefault(name, value)
            template = reference if reference is not None else (evaluation or [None])[0]
            frames = args.frames or (template.fields.size(0) if template is not None else None)
            if frames is None:
                msg = "--test-time needs --frames (no reference trajectory for the condition)"
                raise ValueError(msg)
            initial = template.fields[: model.history].float() if template is not None else None
            times = template.times if template is not None else None
            result = finetune_test_time(model, mesh, cond, pde, steps=frames - (
                initial.size(0) if initial is not None else 1), initial=initial, times=times,
                dt=args.dt, config=config, boundary=boundary, out=args.out, log=log,
                resume=args.resume)
    except (MeshfieldError, ValueError, FileNotFoundError) as err:
        print(f"meshfield finetune: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} (model and refiner); log {log}")
    if not evaluation:
        print("no reference trajectory to compare with (R and MSE need one)")
        return 0
    rows = compare_refinement(result.refined, evaluation, pde)
    print(f"before / after refinement, split {args.eval_split!r}, PDE {pde!r}:")
    print(format_refinement_table(rows))
    if args.report is not None:
        report = [{"conditions": r["conditions"], "before": r["before"].as_dict(),
                   "after": r["after"].as_dict(), "r_factor": r["r_factor"],
                   "mse_change": r["mse_change"]} for r in rows]
        from meshfield._files import write_atomic

        write_atomic(args.report, json.dumps(report, indent=2) + "\n")
    return 0


def _parse_pairs(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        for part in item.split(","):
            name, eq, value = part.partition("=")
            if not eq or not name:
                msg = f"Expected {what} as name=value (got {part!r})"
                raise ValueError(msg)
            try:
                out[name.strip()] = float(value)
            except ValueError:
                out[name.strip()] = value.strip()
    return out
