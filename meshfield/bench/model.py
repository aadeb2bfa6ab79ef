"""Time and peak memory of one model step: HMT against MeshGraphNet at their default sizes.

``python -m meshfield.bench model [--sizes 10k,100k,1M] [--quick] [--repeat 1] [--checkpoint auto]``

Every configuration runs in a fresh process (:func:`meshfield.bench._measure.measure`): one
warm-up call off the clock (first-touch page faults of the heap, lazy initializations), then
the best wall time over ``--repeat`` calls and the peak resident memory above the set-up.
Float32, width 128, default configurations (HMT: pattern ``"MMAMMA"``, patch attention over
256 nodes, 2 message-passing layers, temporal latent 64; MeshGraphNet: 15 message-passing
steps), three fields and one condition, history 1. Meshes are jittered structured
triangulations of the unit square with shuffled node ids (built by
:func:`meshfield.data.mesh_graph`), so the models see an unstructured node order. The
children call :func:`meshfield.runtime.tune_malloc` as the ``meshfield`` command does
(``--system-malloc``: glibc's defaults, to see the difference).

Two passes per model and size:

- **infer**: ``model(data)`` under ``torch.no_grad()`` (one step, including the per-mesh
  preparation: normalized positions and, for HMT, the space-filling-curve sorts);
- **train**: forward, MSE of the normalized increment, backward (no optimizer).

Training steps whose plain peak (bytes per node of the previous size of the same series
times N) exceeds ``--max-mb`` run with activation checkpointing (``--checkpoint auto``; HMT:
the Mamba scans, MeshGraphNet: every processor step), marked ``train*``; ``always`` and
``never`` force it; a training step still predicted above ``--max-mb``, or larger than one that
failed, is skipped with a note. Inference always runs (a child killed for memory is reported).
Printed: the table, then the ratios behind the targets (HMT vs MeshGraphNet per training step
at 10k and 100k nodes, target 3x; time growth from 100k to 1M nodes relative to N; HMT
inference time at 100k and peak memory at 1M against their targets).
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
from meshfield.nn.ssm import cpu_scan

__all__ = ["main", "make_mesh"]

_HERE = "meshfield.bench.model"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_024, 4_096)
FIELDS = ("u", "v", "p")
MODELS = ("hmt", "meshgraphnet")
#: MeshGraphNet's time per training step over HMT's, at 10k and 100k nodes
TRAIN_RATIO_TARGET = 3.0


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
    if checkpoint and model == "hmt":
        options["backbone"] = BackboneConfig(mamba=MambaConfig(checkpoint=True))
    elif checkpoint:
        options["checkpoint"] = True
    return build_model(model, **options)


def setup_step(
    *,
    model: str,
    num_nodes: int,
    backward: bool,
    checkpoint: bool = False,
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
    checkpoint: bool = False

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
    passes = ("train*" if row.checkpoint else "train") if row.backward else "infer"
    head = f"  {name:<14} {_fmt(row.size):>6} {passes:>6}"
    if not row.measured:
        print(f"{head}   {row.note}", flush=True)
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


def _memory_mb() -> float:
    """Physical memory of this machine in MiB (Linux), or 0 where unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return 0.0


def _plan(
    size: int,
    backward: bool,
    mode: str,
    max_mb: float,
    plain: Row | None,
    recomputed: Row | None,
) -> tuple[bool, str]:
    """Whether to checkpoint this configuration, and why it is skipped ("" to run it).

    Inference always runs (its peak grows slower than N, so a linear prediction would skip
    meshes that fit); training steps are predicted linearly from the previous size.
    """

    def predicted(row: Row | None) -> float:
        return row.peak_bytes / row.nodes * size / 2**20 if row else 0.0

    if not backward:
        return False, ""
    checkpoint = mode == "always" or (mode == "auto" and predicted(plain) > max_mb)
    estimate = predicted(recomputed if checkpoint else plain)
    if estimate > max_mb:
        how = "with checkpointing " if checkpoint else ""
        return (
            checkpoint,
            f"skipped: predicted peak {how}{estimate:.0f} MB > --max-mb {max_mb:.0f}",
        )
    return checkpoint, ""


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
        default=1,
        help="timed calls after the warm-up; best time kept",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: PyTorch's)"
    )
    parser.add_argument(
        "--checkpoint",
        choices=("auto", "always", "never"),
        default="auto",
        help="activation checkpointing of training steps (auto: where the plain step would "
        "exceed --max-mb)",
    )
    memory = _memory_mb()
    parser.add_argument(
        "--max-mb",
        type=float,
        default=0.8 * memory if memory else 60_000.0,
        help="memory budget per configuration (default: 80%% of this machine's)",
    )
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="leave glibc malloc at its defaults (no meshfield.runtime.tune_malloc)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds per configuration"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1 (got {args.repeat})")

    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    print("meshfield bench model")
    print(
        f"  float32, width 128, default configurations, fields {list(FIELDS)}, history 1; "
        f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}, "
        f"cpus {os.cpu_count()}, memory {memory / 1024:.0f} GiB"
    )
    print(f"  {cpu_scan.describe()}")
    print(
        f"  one warm-up call, then best of {args.repeat}; --max-mb {args.max_mb:.0f}; "
        f"checkpointing {args.checkpoint} (train* = checkpointed)"
    )
    print(
        "  infer = one step under no_grad (with the per-mesh preparation); "
        "train = forward + loss + backward"
    )
    malloc_line = ""
    print(
        f"\n  {'model':<14} {'N':>6} {'pass':>6} {'seconds':>10} {'peak MB':>10} "
        f"{'bytes/node':>12} {'us/node':>10}"
    )

    rows: list[Row] = []
    for model in MODELS:
        for backward in (False, True):
            plain: Row | None = None
            recomputed: Row | None = None
            failed: Row | None = None
            for size in sizes:
                checkpoint, skip = _plan(
                    size,
                    backward,
                    args.checkpoint,
                    args.max_mb,
                    plain,
                    recomputed,
                )
                if failed is not None and backward:
                    skip = f"skipped: the {_fmt(failed.size)} step failed"
                if skip:
                    row = Row(model, size, backward, note=skip, checkpoint=checkpoint)
                else:
                    try:
                        result = measure(
                            f"{_HERE}:setup_step",
                            repeat=args.repeat,
                            warmup=1,
                            threads=args.threads,
                            tune_malloc=not args.system_malloc,
                            timeout=args.timeout,
                            model=model,
                            num_nodes=size,
                            backward=backward,
                            checkpoint=checkpoint,
                        )
                        malloc_line = result.extra.get("malloc", malloc_line)
                        row = Row(
                            model,
                            size,
                            backward,
                            result.seconds,
                            result.peak_bytes,
                            result.extra["nodes"],
                            checkpoint=checkpoint,
                        )
                        if checkpoint:
                            recomputed = row
                        else:
                            plain = row
                    except RuntimeError as err:
                        note = f"failed: {err}"[:200]
                        row = Row(
                            model, size, backward, note=note, checkpoint=checkpoint
                        )
                        failed = row
                rows.append(row)
                _print_row(row)

    if malloc_line:
        print(f"\n  allocator: {malloc_line}")
    _print_targets(rows, sizes)
    print(
        "\n  figures taken on a shared machine are indicative; rerun on a quiet one to report them"
    )
    return 0


def _print_targets(rows: Sequence[Row], sizes: Sequence[int]) -> None:
    print("\nratios and targets (measured in this run)")
    mid = 100_000 if 100_000 in sizes else sizes[-2] if len(sizes) > 1 else sizes[0]
    big = sizes[-1]
    # the training-step ratio at 10k and 100k nodes (those measured; else the middle size)
    for size in [n for n in sizes if n in (10_000, 100_000)] or [mid]:
        hmt, mgn = _find(rows, "hmt", size, True), _find(rows, "meshgraphnet", size, True)
        ratio = mgn.seconds / hmt.seconds if hmt and mgn else None
        marks = [
            f"{r.model} checkpointed" for r in (hmt, mgn) if r is not None and r.checkpoint
        ]
        _line(
            f"MeshGraphNet / HMT time per training step at {_fmt(size)}",
            ratio,
            f">= {TRAIN_RATIO_TARGET:g}",
            None if ratio is None else ratio >= TRAIN_RATIO_TARGET,
            f"({', '.join(marks)})" if marks else "",
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
