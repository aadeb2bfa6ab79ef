"""``meshfield bench serialize``: time and peak memory of space-filling-curve serialization.

Times :func:`meshfield.serialize.serialize` end to end (per-graph quantization, curve encoding,
graph index in the high bits, stable argsort and inverse) on ``--points`` uniform random points
in 2D and in 3D, for every curve, each in a fresh process
(:func:`meshfield.bench._measure.measure`): best wall time over ``--repeat`` runs and peak
resident memory above the memory held after set-up. Then prints, for context, how local each
curve keeps the edges of an unstructured mesh (a gmsh triangle mesh of a plate with a hole when
gmsh is installed, else PyVista's airplane surface).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

__all__ = ["locality_mesh", "main", "setup"]

#: What one curve on 1M points must meet on a 2-core machine.
TARGET_SECONDS = 0.5

_WINDOWS = (1, 4, 16, 64)


def setup(
    dim: int, curve: str, points: int, graphs: int = 1, seed: int = 0
) -> tuple[Callable[[], Any], dict[str, Any]]:
    """Build the inputs in the measuring process; returns ``(call, extra)`` for ``measure``."""
    import torch

    from meshfield.serialize import serialize

    generator = torch.Generator().manual_seed(seed)
    pos = torch.rand(points, dim, generator=generator)
    batch = None
    if graphs > 1:
        batch = torch.div(torch.arange(points) * graphs, points, rounding_mode="floor")

    def call() -> Any:
        return serialize(pos, batch, curve)

    serialize(pos[:1000], None if batch is None else batch[:1000], curve)  # load the tables
    return call, {}


def locality_mesh() -> tuple[str, Any, Any]:
    """A real unstructured mesh: ``(description, pos [N, d], edge_index [2, E])``."""
    from importlib.util import find_spec

    import numpy as np
    import torch

    from meshfield._gmsh import gmsh_session

    if find_spec("gmsh") is not None:
        with gmsh_session("plate") as gmsh:
            plate = gmsh.model.occ.addRectangle(0, 0, 0, 2, 1)
            hole = gmsh.model.occ.addDisk(0.6, 0.5, 0, 0.2, 0.2)
            gmsh.model.occ.cut([(2, plate)], [(2, hole)])
            gmsh.model.occ.synchronize()
            gmsh.option.setNumber("Mesh.MeshSizeMax", 0.01)
            gmsh.model.mesh.generate(2)
            tags, coords, _ = gmsh.model.mesh.getNodes()
            _, _, nodes = gmsh.model.mesh.getElements(2)
        number = np.zeros(int(tags.max()) + 1, dtype=np.int64)
        number[tags.astype(np.int64)] = np.arange(tags.size)
        cells = number[nodes[0].astype(np.int64)].reshape(-1, 3)
        pos = coords.reshape(-1, 3)[:, :2]
        name = "gmsh plate with hole (2D triangles)"
    else:
        from pyvista import examples

        mesh = examples.load_airplane()
        cells, pos = mesh.regular_faces, mesh.points
        name = "PyVista airplane (3D surface triangles)"
    edges = np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    return (
        name,
        torch.from_numpy(np.ascontiguousarray(pos, dtype=np.float64)),
        torch.from_numpy(np.ascontiguousarray(edges.T)).long(),
    )


def _print_locality() -> None:
    import torch

    from meshfield.serialize import (
        CURVES,
        mean_edge_span,
        neighbor_window_fraction,
        serialize,
    )

    name, pos, edges = locality_mesh()
    print()
    print(f"locality on {name}: {pos.shape[0]:,} nodes, {edges.shape[1]:,} edges")
    print(
        "fraction of edges whose endpoints are at most w sequence steps apart (higher is better),"
    )
    print("and mean sequence distance of an edge (lower is better)")
    header = f"{'order':<15}" + "".join(f"{f'w={w}':>9}" for w in _WINDOWS) + f"{'mean span':>11}"
    print(header)
    print("-" * len(header))
    orders = {curve: serialize(pos, curve=curve).order for curve in CURVES}
    orders["random"] = torch.randperm(pos.shape[0], generator=torch.Generator().manual_seed(0))
    for label, order in orders.items():
        cells = "".join(f"{neighbor_window_fraction(edges, order, w):>9.3f}" for w in _WINDOWS)
        print(f"{label:<15}{cells}{mean_edge_span(edges, order):>11.1f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(
        prog="meshfield bench serialize", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--points", type=int, default=1_000_000, help="points per run (default: 1000000)"
    )
    parser.add_argument(
        "--graphs", type=int, default=1, help="graphs the points are split into (default: 1)"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed runs per case; best is shown (default: 5)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)"
    )
    parser.add_argument(
        "--dim", choices=["2", "3", "all"], default="all", help="dimension (default: all)"
    )
    parser.add_argument("--no-locality", action="store_true", help="skip the mesh locality table")
    args = parser.parse_args(argv)

    import torch

    from meshfield.bench._measure import measure
    from meshfield.serialize import CURVES, default_depth

    threads = args.threads if args.threads is not None else torch.get_num_threads()
    print("meshfield bench serialize: serialize() = quantize + encode + stable argsort + inverse")
    print(
        f"cpu cores: {os.cpu_count()}, torch threads: {threads}, "
        f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}, "
        f"repeat: {args.repeat} (best time; peak RSS above set-up over all runs)"
    )
    print(f"uniform random points in the unit square/cube, split into {args.graphs} graph(s)")
    header = (
        f"{'dim':<4}{'curve':<15}{'depth':>6}{'points':>11}{'time [s]':>10}{'Mpts/s':>8}"
        f"{'peak [MB]':>11}  target"
    )
    print(header)
    print("-" * len(header))
    dims = [2, 3] if args.dim == "all" else [int(args.dim)]
    target = TARGET_SECONDS * args.points / 1_000_000
    for dim in dims:
        for curve in CURVES:
            result = measure(
                "meshfield.bench.serialize:setup",
                repeat=args.repeat,
                threads=args.threads,
                dim=dim,
                curve=curve,
                points=args.points,
                graphs=args.graphs,
            )
            verdict = "met" if result.seconds < target else "MISSED"
            rate = args.points / result.seconds / 1e6
            print(
                f"{dim:<4}{curve:<15}{default_depth(dim, args.graphs):>6}{args.points:>11,}"
                f"{result.seconds:>10.3f}{rate:>8.1f}{result.peak_mb:>11.1f}  "
                f"{verdict} (< {target:.2f} s)"
            )
    if not args.no_locality:
        _print_locality()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
