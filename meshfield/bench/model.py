"""Time and peak memory of one model step: HMT against MeshGraphNet at their default sizes.

``python -m meshfield.bench model [--sizes 10k,100k,1M] [--quick] [--repeat 2] [--checkpoint]``

Every configuration runs in a fresh process (:func:`meshfield.bench._measure.measure`): best
wall time over ``--repeat`` calls and peak resident memory above the set-up. Float32, width
128, default configurations (HMT: pattern ``"MMAMMA"``, patch attention over 256 nodes, 2
message-passing layers, temporal latent 64; MeshGraphNet: 15 message-passing steps), three
fields and one condition, history 1. Meshes are jittered structured triangulations of the
unit square with shuffled node ids (built by :func:`meshfield.data.mesh_graph`), so the
models see an unstructured node order.

Two passes per model and size:

- **inference**: ``model(data)`` under ``torch.no_grad()`` (one step, including the
  per-mesh preparation: normalized positions and, for HMT, the space-filling-curve sorts);
- **training step**: forward, MSE of the normalized increment, backward (no optimizer).

Printed: the table, then the ratios the issue asks for (HMT vs MeshGraphNet per training step
at 100k nodes; time growth from 100k to 1M nodes relative to N; HMT inference time at 100k
and peak memory at 1M against their targets). A configuration whose predicted peak (bytes per
node of the previous size of the same series times N) exceeds ``--max-mb`` is skipped with a
note. ``--checkpoint`` turns on activation checkpointing of the Mamba scans for training.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from meshfield.bench._measure import measure

__all__ = ["main", "make_mesh"]

_HERE = "meshfield.bench.model"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_024, 4_096)
FIELDS = ("u", "v", "p")
MODELS = ("hmt", "meshgraphnet")


def make_mesh(num_nodes: int, *, seed: int = 0) -> Any:
    """A jittered triangulated unit square of about ``num_nodes`` nodes, node ids shuffled.

    ``fields [2, N, 3]`` (smooth waves), ``cond = [100.0]`` (``"Re"``), boundary tag 1 on the
    outline.
    """
    from meshfield.data import mesh_graph

    rng = np.random.default_rng(seed)
    n = max(round(num_nodes**0.5), 2)
    ij = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(
        -1, 2
    )
    pos = (ij + rng.uniform(-0.25, 0.25, ij.shape)) / (n - 1)
    ids = np.arange(n * n).reshape(n, n)
    a, b, c, d = ids[:-1, :-1], ids[1:, :-1], ids[1:, 1:], ids[:-1, 1:]
    triangles = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    )
    boundary = ((ij == 0) | (ij == n - 1)).any(1).astype(np.int64)
    perm = rng.permutation(n * n)
    inverse = np.argsort(perm)
    pos, boundary, triangles = pos[perm], boundary[perm], inverse[triangles]
    x, y = pos[:, 0], pos[:, 1]
    frame = np.stack([np.sin(6 * x) * np.cos(4 * y), np.cos(5 * x + y), x * y], -1)
    fields = np.stack([frame, frame + 0.01 * np.sin(9 * y)[:, None]]).astype(np.float32)
    return mesh_graph(
        pos.astype(np.float32),
        {"triangle": triangles},
        boundary=boundary,
        fields=fields,
        field_names=list(FIELDS),
        cond={"Re": 100.0},
    )


def _build(model: str, checkpoint: bool) -> torch.nn.Module:
    from meshfield.models import build_model
    from meshfield.nn import BackboneConfig, MambaConfig

    options: dict[str, Any] = {"field_names": FIELDS, "cond_names": ("Re",)}
    if model == "hmt" and checkpoint:
        options["backbone"] = BackboneConfig(mamba=MambaConfig(checkpoint=True))
    return build_model(model, **options)


def setup_step(
    *, model: str, num_nodes: int, backward: bool, checkpoint: bool = False
) -> tuple[Callable[[], None], dict[str, Any]]:
    """One step of ``model`` on a mesh of about ``num_nodes`` nodes (run in the child)."""
    torch.manual_seed(0)
    data = make_mesh(num_nodes)
    net = _build(model, checkpoint)
    net.normalizer.fit([data])
    net.train(backward)
    history, target_frame = data.fields[:1], data.fields[1]
    target = net.normalizer.normalize_delta(history[-1], target_frame)
    params = list(net.parameters())

    def call() -> None:
        if backward:
            for p in params:
                p.grad = None
            out = net(data, history)
            (out.delta - target).square().mean().backward()
        else:
            with torch.no_grad():
                net(data, history)

    if data.num_nodes <= 20_000:  # one-time costs off the clock for the small meshes
        call()
    extra = {
        "params": sum(p.numel() for p in params),
        "nodes": int(data.num_nodes),
        "edges": int(data.edge_index.size(1)),
    }
    return call, extra


@dataclass(frozen=True)
class Row:
    """One measured (or skipped) configuration."""

    model: str
    size: int
    backward: bool
    seconds: float | None = None
    peak_bytes: int | None = None
    nodes: int = 0
    note: str = ""

    @property
    def measured(self) -> bool:
        return self.seconds is not None


def _fmt(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _parse_sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for item in text.split(","):
        item = item.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(item[-1:], 1)
        sizes.append(int(float(item[:-1] if scale > 1 else item) * scale))
    if not sizes or min(sizes) < 16:
        msg = f"--sizes needs node counts of at least 16 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return tuple(sorted(set(sizes)))


def _print_row(row: Row) -> None:
    name = {"hmt": "HMT", "meshgraphnet": "MeshGraphNet"}[row.model]
    head = f"  {name:<14} {_fmt(row.size):>6} {'train' if row.backward else 'infer':>6}"
    if not row.measured:
        print(f"{head}   skipped: {row.note}", flush=True)
        return
    print(
        f"{head} {row.seconds:10.3f} {row.peak_bytes / 2**20:10.1f} "
        f"{row.peak_bytes / row.nodes:12.0f} {row.seconds * 1e6 / row.nodes:10.2f}",
        flush=True,
    )


def _find(rows: Sequence[Row], model: str, size: int, backward: bool) -> Row | None:
    for row in rows:
        if (row.model, row.size, row.backward) == (
            model,
            size,
            backward,
        ) and row.measured:
            return row
    return None


def _line(
    label: str, value: float | None, target: str, ok: bool | None, note: str = ""
) -> None:
    shown = "n/a" if value is None else f"{value:.3g}"
    verdict = "" if ok is None else ("met" if ok else "NOT met")
    print(f"  {label:<56} {shown:>9}   target {target:<8} {verdict:<8}{note}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table and ratios; returns 0."""
    parser = argparse.ArgumentParser(
        prog="meshfield bench model", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes", type=_parse_sizes, default=None, help="node counts, e.g. 10k,100k,1M"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small meshes (a smoke run)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="calls per configuration; best time kept",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: PyTorch's)"
    )
    parser.add_argument(
        "--checkpoint",
        action="store_true",
        help="checkpoint the Mamba scans in training",
    )
    parser.add_argument(
        "--max-mb",
        type=float,
        default=60_000.0,
        help="skip configurations predicted above this",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds per configuration"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)

    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeat = args.repeat or (1 if args.quick else 2)
    print("meshfield bench model")
    print(
        f"  float32, width 128, default configurations, fields {list(FIELDS)}, history 1; "
        f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}, "
        f"cpus {os.cpu_count()}"
    )
    print(
        f"  THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '(unset)')}, repeat "
        f"{repeat} (best time), Mamba checkpointing in training: {args.checkpoint}"
    )
    print(
        "  infer = one step under no_grad (with the per-mesh preparation); train = forward + loss + backward"
    )
    print(
        f"\n  {'model':<14} {'N':>6} {'pass':>6} {'seconds':>10} {'peak MB':>10} {'bytes/node':>12} {'us/node':>10}"
    )

    rows: list[Row] = []
    for model in MODELS:
        for backward in (False, True):
            previous: Row | None = None
            for size in sizes:
                predicted = (
                    previous.peak_bytes / previous.nodes * size if previous else 0.0
                )
                if predicted > args.max_mb * 2**20:
                    row = Row(
                        model,
                        size,
                        backward,
                        note=f"predicted peak {predicted / 2**20:.0f} MB > --max-mb {args.max_mb:.0f}",
                    )
                else:
                    try:
                        result = measure(
                            f"{_HERE}:setup_step",
                            repeat=repeat,
                            threads=args.threads,
                            timeout=args.timeout,
                            model=model,
                            num_nodes=size,
                            backward=backward,
                            checkpoint=args.checkpoint,
                        )
                        row = Row(
                            model,
                            size,
                            backward,
                            result.seconds,
                            result.peak_bytes,
                            result.extra["nodes"],
                        )
                        previous = row
                    except RuntimeError as err:
                        row = Row(model, size, backward, note=f"failed: {err}"[:200])
                rows.append(row)
                _print_row(row)

    _print_targets(rows, sizes)
    print(
        "\n  figures taken on a shared machine are indicative; rerun on a quiet one to report them"
    )
    return 0


def _print_targets(rows: Sequence[Row], sizes: Sequence[int]) -> None:
    print("\nratios and targets (measured in this run)")
    mid = 100_000 if 100_000 in sizes else sizes[-2] if len(sizes) > 1 else sizes[0]
    big = sizes[-1]
    hmt, mgn = _find(rows, "hmt", mid, True), _find(rows, "meshgraphnet", mid, True)
    ratio = mgn.seconds / hmt.seconds if hmt and mgn else None
    _line(
        f"MeshGraphNet / HMT time per training step at {_fmt(mid)}",
        ratio,
        ">= 2",
        None if ratio is None else ratio >= 2,
    )
    for model in MODELS:
        for backward in (False, True):
            start, end = (
                _find(rows, model, mid, backward),
                _find(rows, model, big, backward),
            )
            growth = None
            if start and end and end.nodes > start.nodes:
                growth = (end.seconds / start.seconds) / (end.nodes / start.nodes)
            name = "HMT" if model == "hmt" else "MeshGraphNet"
            label = f"{name} {'train' if backward else 'infer'} time growth / N growth ({_fmt(mid)} -> {_fmt(big)})"
            target = model == "hmt" and not backward
            ok = (growth <= 1.2) if target and growth is not None else None
            _line(label, growth, "<= 1.2" if target else "-", ok)
    infer = _find(rows, "hmt", mid, False)
    value = infer.seconds if infer else None
    _line(
        f"HMT inference seconds at {_fmt(mid)}",
        value,
        "< 10",
        None if value is None else value < 10,
    )
    infer = _find(rows, "hmt", big, False)
    value = infer.peak_bytes / 2**30 if infer else None
    _line(
        f"HMT inference peak GiB at {_fmt(big)}",
        value,
        "< 16",
        None if value is None else value < 16,
    )
    if 100_000 not in sizes or 1_000_000 not in sizes:
        print(
            "  note: 100k and 1M are not both among --sizes; the ratios use the sizes measured"
        )
