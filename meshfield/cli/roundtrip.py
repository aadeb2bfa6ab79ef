"""``meshfield roundtrip``: write a mesh in every format, read it back, compare."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from meshfield.cli._common import default_mesh_path
from meshfield.cli.info import _describe


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield roundtrip`` and its options."""
    p = subparsers.add_parser(
        "roundtrip",
        help="read a mesh (default: the bundled cylinder mesh), write every format, read back, compare",
    )
    p.add_argument("mesh", nargs="?", default=None, help="mesh to use (default: bundled cylinder.msh)")
    p.add_argument("--out", default=None, help="folder for the written files (default: a temp folder)")
    p.add_argument(
        "--formats", nargs="+", default=[".vtu", ".vtk", ".xdmf", ".pvd"], help="suffixes to write"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield roundtrip`` for parsed options; the exit status (1 when a format differs)."""
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
