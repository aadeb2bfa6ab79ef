"""``meshfield info``: what a mesh or a checkpoint holds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield info`` and its options."""
    p = subparsers.add_parser(
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield info`` for parsed options: describe a mesh or a checkpoint; the exit status."""
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
    details = resolved.details  # the parsed names, ranges, spec, units and metadata
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
    spec = details.spec
    units = details.units
    fields = ", ".join(details.field_names)
    if units:
        fields += "  (" + ", ".join(f"{k}: {v}" for k, v in units.items()) + ")"
    lines.append(f"fields       {fields}")
    ranges = details.cond_ranges
    if details.cond_names:
        conds = ", ".join(
            f"{name} in [{_numbers(ranges.get(name) or [None, None])}]"
            for name in details.cond_names
        )
        lines.append(f"conditions   {conds} (training range)")
    else:
        lines.append("conditions   none")
    norm = info.get("normalization") or {}
    names = list(details.field_names)
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
            for n, m, s in zip(details.cond_names, norm["cond_mean"], norm["cond_std"])
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
        time = details.time
        if time is not None and time.steady:
            parts.append("steady")
        elif time is not None:
            end, every = (("?" if v is None else f"{v:g}") for v in (time.end, time.interval))
            parts.append(f"time {time.spin_up:g}..{end} every {every}")
            if details.frame_step > 1:
                parts.append(
                    f"a model step of {details.frame_step} snapshots "
                    f"({details.step_interval:g} time units)"
                )
        lines.append(f"spec         {', '.join(parts)}")
    else:
        lines.append("spec         none (no residual without a PDE)")
    metadata = details.metadata
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
