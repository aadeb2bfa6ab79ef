"""``meshfield convert``: read any supported mesh, write another format."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield convert`` and its options."""
    p = subparsers.add_parser("convert", help="read any supported mesh and write .vtu/.vtk/.xdmf/.pvd")
    p.add_argument("source", help="input mesh, time series or OpenFOAM case")
    p.add_argument("dest", help="output file; the suffix picks the format")
    p.add_argument("--cell-to-point", action="store_true", help="average cell data onto nodes")
    p.add_argument(
        "--mesh-only",
        action="store_true",
        help="write only the mesh (points, cells, boundary groups), no fields or conditions",
    )
    p.set_defaults(func=run)


#: what ``meshfield convert --mesh-only`` leaves out: every value that is not the mesh
_DATA_KEYS = ("fields", "field_names", "times", "cell_fields", "cell_field_names", "cond",
              "cond_names", "run_id", "split")


def run(args: argparse.Namespace) -> int:
    """``meshfield convert`` for parsed options; the exit status."""
    from meshfield.io import load_mesh, save

    data = load_mesh(args.source, cell_to_point=args.cell_to_point)
    if args.mesh_only:
        for key in _DATA_KEYS:
            if key in data:
                del data[key]
    out = save(data, args.dest)
    print(f"wrote {out}")
    return 0

