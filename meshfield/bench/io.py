"""``meshfield bench io``: time and peak memory of building a MeshGraph from a large mesh.

Two meshes of about ``--cells`` cells each: triangles (a point lattice, every square cut in
two) and tetrahedra (a cube lattice, every cube cut into the 6 Kuhn tetrahedra around its main
diagonal, which fit together across cubes). Node ids and cell order are shuffled so the mesh is
unstructured in memory, as a mesh generator's output would be. Generating the mesh is not
timed; what is timed is :func:`meshfield.data.mesh_graph` on the points and cells: input
checks, the undirected edge set and the topological boundary. Each mesh is measured in a fresh
process (:func:`meshfield.bench._measure.measure`): best wall time over ``--repeat`` runs and
peak resident memory above the memory held after set-up.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import itertools
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["main", "setup", "tetra_mesh", "triangle_mesh"]

#: What a 1M-cell mesh must meet on a 2-core machine.
TARGET_SECONDS = 3.0
TARGET_BYTES = 1.5 * 2**30


def _shuffle(
    pos: np.ndarray, cells: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Renumber nodes and reorder cells at random; the mesh stays the same."""
    new_id = rng.permutation(len(pos))
    shuffled = np.empty_like(pos)
    shuffled[new_id] = pos
    return shuffled, new_id[cells[rng.permutation(len(cells))]]


def triangle_mesh(num_cells: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """A shuffled triangulated square with about ``num_cells`` triangles.

    Returns
    -------
    pos : numpy.ndarray
        float64 ``[N, 2]``.
    cells : numpy.ndarray
        int64 ``[n_cells, 3]``.
    num_edges : int
        Number of undirected edges, counted from the lattice.
    """
    m = max(1, round(math.sqrt(num_cells / 2)))  # squares per side
    n = m + 1
    y, x = np.meshgrid(
        np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64), indexing="ij"
    )
    pos = np.stack([x.reshape(-1), y.reshape(-1)], axis=1)
    j, i = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    a = (i + n * j).reshape(-1)
    b, c, d = a + 1, a + 1 + n, a + n
    cells = np.concatenate([np.stack([a, b, c], axis=1), np.stack([a, c, d], axis=1)])
    num_edges = 2 * n * m + m * m  # lattice sides + one diagonal per square
    pos, cells = _shuffle(pos, cells.astype(np.int64), np.random.default_rng(seed))
    return pos, cells, num_edges


def tetra_mesh(num_cells: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """A shuffled cube of Kuhn tetrahedra (6 per lattice cube), about ``num_cells`` of them.

    Returns
    -------
    pos : numpy.ndarray
        float64 ``[N, 3]``.
    cells : numpy.ndarray
        int64 ``[n_cells, 4]``.
    num_edges : int
        Number of undirected edges, counted from the lattice.
    """
    m = max(1, round((num_cells / 6) ** (1 / 3)))  # cubes per side
    n = m + 1
    z, y, x = np.meshgrid(*[np.arange(n, dtype=np.float64)] * 3, indexing="ij")
    pos = np.stack([x.reshape(-1), y.reshape(-1), z.reshape(-1)], axis=1)
    k, j, i = np.meshgrid(*[np.arange(m)] * 3, indexing="ij")
    corner = (i + n * j + n * n * k).reshape(-1)
    step = (1, n, n * n)
    tets = []
    for order in itertools.permutations(range(3)):
        # the path 000 -> 111 along the axes in this order
        first = corner + step[order[0]]
        second = first + step[order[1]]
        tets.append(np.stack([corner, first, second, second + step[order[2]]], axis=1))
    cells = np.concatenate(tets).astype(np.int64)
    # lattice sides + one diagonal per face square + one body diagonal per cube
    num_edges = 3 * m * n * n + 3 * m * m * n + m**3
    pos, cells = _shuffle(pos, cells, np.random.default_rng(seed))
    return pos, cells, num_edges


_MESHES: dict[str, tuple[str, Callable[..., tuple[np.ndarray, np.ndarray, int]]]] = {
    "triangle": ("2D triangles", triangle_mesh),
    "tetra": ("3D tetrahedra", tetra_mesh),
}


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS so the baseline holds only the inputs."""
    gc.collect()
    # without glibc the baseline may include freed memory
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def setup(kind: str, cells: int, seed: int = 0) -> tuple[Callable[[], Any], dict[str, Any]]:
    """Build the inputs in the measuring process; returns ``(call, extra)`` for ``measure``."""
    from meshfield.data import mesh_graph

    pos, connectivity, num_edges = _MESHES[kind][1](cells, seed=seed)
    cell_type = kind
    _release_freed_memory()

    def call() -> Any:
        return mesh_graph(pos, {cell_type: connectivity})

    extra = {"nodes": len(pos), "cells": len(connectivity), "edges": num_edges}
    return call, extra


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="meshfield bench io", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cells", type=int, default=1_000_000, help="cells per mesh (default: 1000000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per mesh; best is shown (default: 3)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)"
    )
    parser.add_argument(
        "--mesh", choices=[*_MESHES, "all"], default="all", help="which mesh (default: all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default: 0)")
    args = parser.parse_args(argv)

    import torch

    from meshfield.bench._measure import measure

    threads = args.threads if args.threads is not None else torch.get_num_threads()
    print("meshfield bench io: mesh_graph (input checks + edges + boundary)")
    print(
        f"cpu cores: {os.cpu_count()}, torch threads: {threads}, "
        f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}, "
        f"repeat: {args.repeat} (best time; peak RSS above set-up over all runs)"
    )
    scale = args.cells / 1_000_000
    header = (
        f"{'mesh':<15}{'cells':>11}{'nodes':>10}{'edges':>11}"
        f"{'time [s]':>10}{'peak [MB]':>11}  target"
    )
    print(header)
    print("-" * len(header))
    kinds = list(_MESHES) if args.mesh == "all" else [args.mesh]
    for kind in kinds:
        result = measure(
            "meshfield.bench.io:setup",
            repeat=args.repeat,
            threads=args.threads,
            kind=kind,
            cells=args.cells,
            seed=args.seed,
        )
        extra = result.extra
        target_s, target_b = TARGET_SECONDS * scale, TARGET_BYTES * scale
        met = result.seconds < target_s and result.peak_bytes < target_b
        verdict = "met" if met else "MISSED"
        print(
            f"{_MESHES[kind][0]:<15}{extra['cells']:>11,}{extra['nodes']:>10,}{extra['edges']:>11,}"
            f"{result.seconds:>10.3f}{result.peak_mb:>11.1f}  {verdict} "
            f"(< {target_s:.2f} s, < {target_b / 2**20:.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
