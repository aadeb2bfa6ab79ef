"""Time and peak memory of the backbone's blocks and of the selective scan, per token.

``python -m meshfield.bench backbone [--sizes 16384,65536] [--quick] [--repeat 3]``

Every configuration runs in a fresh process (:func:`meshfield.bench._measure.measure`): best
wall time over ``--repeat`` calls and peak resident memory above the set-up. Float32,
``d_model = 128``, one sequence (batch of one graph). Printed:

1. **Blocks** at each length ``L``: a mixer block is ``x + mixer(LayerNorm(x))`` (a
   :class:`~meshfield.nn.HybridBlock` with ``mlp_ratio=0``, no MLP), forward and
   forward+backward, for a :class:`~meshfield.nn.BiMamba` mixer (torch backend, chunked SSD
   scan; forward+backward also with ``checkpoint=True``, which recomputes the scan
   activations block by block in the backward pass), a
   :class:`~meshfield.nn.PatchAttention` mixer (patches of 256, patching computed in the
   set-up as a backbone does once per forward), a :class:`~meshfield.nn.FullAttention` mixer
   where it fits, the same BiMamba on the sequential reference scan (forward only, at the
   smaller of the smallest ``L`` and ``--reference-length``), and ``mambapy``'s Mamba block
   (one residual Mamba-1 layer, unidirectional, parallel scan) if that package is installed.
2. **Scan alone** at ``--scan-length`` (64k): ``d_inner = 128``, ``d_state = 16``, batch 1,
   :func:`~meshfield.nn.ssd_chunked` vs ``mambapy``'s selective scan (its ``pscan``) vs
   :func:`~meshfield.nn.ssd_reference` (at ``--reference-length``, compared per token).
3. **Targets** against the figures just measured, with ratios; beside the BiMamba block's time
   per token, its arithmetic floor (:mod:`meshfield.bench._floor`: the operations of its matrix
   products, forward and backward, over the GEMM rate measured in this process at the end).

A configuration whose predicted peak memory (bytes per token of the previous length of the
same series times ``L``) exceeds ``--max-mb`` is skipped with a note, as is full attention
above ``--full-max`` tokens (its time at 64k is then extrapolated as ``L^2`` from the largest
measured length, and labelled so).

Up to 16k tokens the set-up makes one untimed call first, so one-time costs (allocator
warm-up, lazy initialization) stay off the clock; the peak memory covers that call too.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from meshfield.bench._floor import count_flops, gemm_rate
from meshfield.bench._measure import Measurement, measure
from meshfield.nn.ssm import cpu_scan

__all__ = ["main"]

D_MODEL = 128
PATCH_SIZE = 256
NUM_HEADS = 4
SCAN_D_INNER = 128
SCAN_D_STATE = 16
SCAN_HEADDIM = 64
CHUNK_SIZE = 64

DEFAULT_SIZES = (16384, 65536, 262144, 1048576)
QUICK_SIZES = (256, 1024)
#: tokens on which the BiMamba block's operations per token are counted, and GEMM rows of the rate
FLOOR_LENGTH = 16384
#: up to this length one untimed call comes first (one-time costs off the clock)
WARMUP_MAX_LENGTH = 16384

_HERE = "meshfield.bench.backbone"


# ---------------------------------------------------------------------------------------------
# set-up functions, run in the child process: build inputs, return (call, extra)


def _zero_grads(tensors: Sequence[torch.Tensor]) -> None:
    for tensor in tensors:
        tensor.grad = None


def setup_block(
    *,
    mixer: str,
    length: int,
    backward: bool,
    d_model: int = D_MODEL,
    backend: str = "torch",
    checkpoint: bool = False,
) -> tuple[Callable[[], None], dict[str, Any]]:
    """A mixer block (``mlp_ratio=0``) on one sequence of ``length`` tokens."""
    from dataclasses import asdict

    from meshfield.nn import BiMamba, FullAttention, HybridBlock, MambaConfig, PatchAttention

    torch.manual_seed(0)
    patching = None
    if mixer == "bimamba":
        config = MambaConfig(chunk_size=CHUNK_SIZE, backend=backend, checkpoint=checkpoint)
        module: torch.nn.Module = BiMamba(d_model, **asdict(config))
    elif mixer == "patch":
        module = PatchAttention(d_model, NUM_HEADS, PATCH_SIZE)
        patching = module.patching(None, length, torch.device("cpu"))
    elif mixer == "full":
        module = FullAttention(d_model, NUM_HEADS, max_tokens=length)
    else:
        msg = f"unknown mixer {mixer!r}"
        raise ValueError(msg)
    block = HybridBlock(module, d_model, mlp_ratio=0)
    x = torch.randn(length, d_model, requires_grad=backward)
    params = list(block.parameters())

    def call() -> None:
        if backward:
            _zero_grads([x, *params])
            block(x, patching=patching).sum().backward()
        else:
            with torch.no_grad():
                block(x, patching=patching)

    return call, {"params": sum(p.numel() for p in params)}


def setup_mambapy_block(
    *, length: int, backward: bool, d_model: int = D_MODEL
) -> tuple[Callable[[], None], dict]:
    """``mambapy``'s Mamba with one layer (residual, RMS norm, Mamba-1 mixer, parallel scan)."""
    from mambapy.mamba import Mamba as PyMamba
    from mambapy.mamba import MambaConfig as PyMambaConfig

    torch.manual_seed(0)
    model = PyMamba(PyMambaConfig(d_model=d_model, n_layers=1, d_state=16, expand_factor=2))
    x = torch.randn(1, length, d_model, requires_grad=backward)
    params = list(model.parameters())

    def call() -> None:
        if backward:
            _zero_grads([x, *params])
            model(x).sum().backward()
        else:
            with torch.no_grad():
                model(x)

    return call, {"params": sum(p.numel() for p in params)}


def setup_scan(*, impl: str, length: int, backward: bool) -> tuple[Callable[[], None], dict]:
    """The selective scan alone: ``d_inner = 128``, ``d_state = 16``, batch 1."""
    torch.manual_seed(0)
    grad = backward
    if impl == "mambapy":
        from mambapy.mamba import MambaBlock
        from mambapy.mamba import MambaConfig as PyMambaConfig

        block = MambaBlock(
            PyMambaConfig(d_model=SCAN_D_INNER // 2, n_layers=1, d_state=SCAN_D_STATE)
        )
        x = torch.randn(1, length, SCAN_D_INNER, requires_grad=grad)
        delta = (0.01 + 0.09 * torch.rand(1, length, SCAN_D_INNER)).requires_grad_(grad)
        A = -torch.rand(SCAN_D_INNER, SCAN_D_STATE).exp()
        B = torch.randn(1, length, SCAN_D_STATE, requires_grad=grad)
        C = torch.randn(1, length, SCAN_D_STATE, requires_grad=grad)
        D = torch.ones(SCAN_D_INNER)
        inputs = [x, delta, B, C]

        def scan() -> torch.Tensor:
            return block.selective_scan(x, delta, A, B, C, D)

    else:
        from meshfield.nn import ssd_chunked, ssd_reference

        function = {"chunked": ssd_chunked, "reference": ssd_reference}[impl]
        heads = SCAN_D_INNER // SCAN_HEADDIM
        x = torch.randn(1, length, heads, SCAN_HEADDIM, requires_grad=grad)
        dt = (0.01 + 0.09 * torch.rand(1, length, heads)).requires_grad_(grad)
        A = -torch.rand(heads).exp()
        B = torch.randn(1, length, 1, SCAN_D_STATE, requires_grad=grad)
        C = torch.randn(1, length, 1, SCAN_D_STATE, requires_grad=grad)
        D = torch.ones(heads)
        inputs = [x, dt, B, C]

        def scan() -> torch.Tensor:
            return function(x, dt, A, B, C, chunk_size=CHUNK_SIZE, D=D)

    def call() -> None:
        if backward:
            _zero_grads(inputs)
            scan().sum().backward()
        else:
            with torch.no_grad():
                scan()

    return call, {}


# ---------------------------------------------------------------------------------------------
# the parent: run the configurations, print the tables and the targets


@dataclass(frozen=True)
class Row:
    """One measured (or skipped) configuration."""

    table: str
    name: str
    length: int
    backward: bool
    seconds: float | None = None
    peak_bytes: int | None = None
    note: str = ""

    @property
    def measured(self) -> bool:
        return self.seconds is not None

    @property
    def us_per_token(self) -> float:
        return self.seconds * 1e6 / self.length if self.seconds is not None else float("nan")

    @property
    def bytes_per_token(self) -> float:
        return self.peak_bytes / self.length if self.peak_bytes is not None else float("nan")


def _fmt_len(length: int) -> str:
    for unit, size in (("M", 2**20), ("k", 2**10)):
        if length >= size and length % size == 0:
            return f"{length // size}{unit}"
    return str(length)


def _passes(backward: bool) -> str:
    return "fwd+bwd" if backward else "fwd"


def _print_row(row: Row) -> None:
    head = f"  {row.name:<31} {_fmt_len(row.length):>6} {_passes(row.backward):>8}"
    if not row.measured:
        print(f"{head}   skipped: {row.note}", flush=True)
        return
    print(
        f"{head} {row.us_per_token:10.3f} {row.seconds * 1e3:11.1f} {row.peak_bytes / 2**20:10.1f} "
        f"{row.bytes_per_token:12.0f}{'  ' + row.note if row.note else ''}",
        flush=True,
    )


def _print_header(title: str) -> None:
    print(f"\n{title}")
    print(
        f"  {'config':<31} {'L':>6} {'pass':>8} {'us/token':>10} {'ms':>11} {'peak MB':>10} "
        f"{'bytes/token':>12}"
    )


class _Runner:
    def __init__(self, repeat: int, threads: int | None, max_mb: float, timeout: float) -> None:
        self.repeat = repeat
        self.threads = threads
        self.max_bytes = max_mb * 2**20
        self.timeout = timeout
        self.rows: list[Row] = []
        self._last: dict[tuple[str, str, bool], Row] = {}

    def run(
        self, table: str, name: str, length: int, backward: bool, target: str, **kwargs: Any
    ) -> Row:
        previous = self._last.get((table, name, backward))
        predicted = previous.bytes_per_token * length if previous is not None else 0.0
        if predicted > self.max_bytes:
            row = Row(
                table,
                name,
                length,
                backward,
                note=(
                    f"predicted peak {predicted / 2**20:.0f} MB > --max-mb "
                    f"{self.max_bytes / 2**20:.0f}"
                ),
            )
        else:
            try:
                result: Measurement = measure(
                    f"{_HERE}:{target}",
                    repeat=self.repeat,
                    warmup=int(length <= WARMUP_MAX_LENGTH),
                    threads=self.threads,
                    timeout=self.timeout,
                    length=length,
                    backward=backward,
                    **kwargs,
                )
                row = Row(table, name, length, backward, result.seconds, result.peak_bytes)
                self._last[(table, name, backward)] = row
            except RuntimeError as err:
                row = Row(table, name, length, backward, note=f"failed: {err}"[:200])
        self.rows.append(row)
        _print_row(row)
        return row

    def skip(self, table: str, name: str, length: int, backward: bool, note: str) -> None:
        row = Row(table, name, length, backward, note=note)
        self.rows.append(row)
        _print_row(row)

    def find(self, table: str, name: str, length: int, backward: bool) -> Row | None:
        for row in self.rows:
            if (row.table, row.name, row.length, row.backward) == (
                table,
                name,
                length,
                backward,
            ) and row.measured:
                return row
        return None

    def series(self, table: str, name: str, backward: bool) -> list[Row]:
        return sorted(
            (
                r
                for r in self.rows
                if (r.table, r.name, r.backward) == (table, name, backward) and r.measured
            ),
            key=lambda r: r.length,
        )


def _parse_sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for item in text.split(","):
        item = item.strip().lower()
        scale = {"k": 2**10, "m": 2**20}.get(item[-1:], 1)
        sizes.append(int(item[:-1] if scale > 1 else item) * scale)
    if not sizes or min(sizes) < 1:
        msg = f"--sizes needs positive lengths (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return tuple(sorted(set(sizes)))


def _target_line(
    label: str, value: float | None, target: str, ok: bool | None, note: str = ""
) -> None:
    shown = "n/a" if value is None else f"{value:.3g}"
    verdict = "" if ok is None else ("met" if ok else "NOT met")
    print(f"  {label:<58} {shown:>9}   target {target:<8} {verdict:<8}{note}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables; returns 0."""
    parser = argparse.ArgumentParser(
        prog="meshfield bench backbone", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes", type=_parse_sizes, default=None, help="sequence lengths, e.g. 16k,64k,256k,1M"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--repeat", type=int, default=None, help="calls per configuration; best time kept"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)"
    )
    parser.add_argument(
        "--scan-length", type=_parse_sizes, default=None, help="length of the scan comparison"
    )
    parser.add_argument(
        "--reference-length", type=_parse_sizes, default=None, help="length of the reference scan"
    )
    parser.add_argument(
        "--full-max", type=int, default=None, help="longest sequence for full attention"
    )
    parser.add_argument(
        "--max-mb", type=float, default=8000.0, help="skip configurations predicted above this"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per configuration")
    args = parser.parse_args(list(argv) if argv is not None else None)

    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeat = args.repeat or (1 if args.quick else 3)
    scan_length = (args.scan_length or ((1024,) if args.quick else (65536,)))[0]
    reference_length = (args.reference_length or ((256,) if args.quick else (4096,)))[0]
    full_max = args.full_max or (1024 if args.quick else 16384)
    has_mambapy = importlib.util.find_spec("mambapy") is not None

    print("meshfield bench backbone")
    print(
        f"  float32, d_model {D_MODEL}, one sequence; torch {torch.__version__}, "
        f"threads {args.threads or torch.get_num_threads()}, cpus {os.cpu_count()}"
    )
    print(
        f"  THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '(unset)')}, "
        f"repeat {repeat} (best time)"
    )
    print(
        "  mixer block = x + mixer(LayerNorm(x)), no MLP; BiMamba: d_state 16, expand 2, "
        "headdim 64, "
        f"chunk {CHUNK_SIZE}, torch backend; PatchAttention: patch {PATCH_SIZE}, {NUM_HEADS} heads"
    )
    print(f"  {cpu_scan.describe()}")
    if not has_mambapy:
        print("  note: mambapy is not installed (pip install mambapy); its rows are skipped")

    runner = _Runner(repeat, args.threads, args.max_mb, args.timeout)

    _print_header("blocks")
    for backward in (False, True):
        for length in sizes:
            runner.run("block", "BiMamba block", length, backward, "setup_block", mixer="bimamba")
        if backward:
            for length in sizes:
                runner.run(
                    "block",
                    "BiMamba block (checkpointed)",
                    length,
                    True,
                    "setup_block",
                    mixer="bimamba",
                    checkpoint=True,
                )
        for length in sizes:
            runner.run(
                "block", "PatchAttention block", length, backward, "setup_block", mixer="patch"
            )
        for length in sizes:
            if length > full_max:
                note = f"L > --full-max {full_max} (time grows as L^2)"
                runner.skip("block", "FullAttention block", length, backward, note)
            else:
                runner.run(
                    "block", "FullAttention block", length, backward, "setup_block", mixer="full"
                )
        if not backward:
            runner.run(
                "block",
                "BiMamba block (reference scan)",
                min(sizes[0], reference_length),
                False,
                "setup_block",
                mixer="bimamba",
                backend="reference",
            )
        for length in sizes:
            if has_mambapy:
                runner.run("block", "mambapy Mamba block", length, backward, "setup_mambapy_block")
            else:
                runner.skip(
                    "block", "mambapy Mamba block", length, backward, "mambapy not installed"
                )

    _print_header(f"scan alone (d_inner {SCAN_D_INNER}, d_state {SCAN_D_STATE}, batch 1)")
    for backward in (False, True):
        runner.run("scan", "ssd_chunked", scan_length, backward, "setup_scan", impl="chunked")
        if has_mambapy:
            runner.run(
                "scan",
                "mambapy selective_scan",
                scan_length,
                backward,
                "setup_scan",
                impl="mambapy",
            )
        else:
            runner.skip(
                "scan", "mambapy selective_scan", scan_length, backward, "mambapy not installed"
            )
        runner.run(
            "scan", "ssd_reference", reference_length, backward, "setup_scan", impl="reference"
        )

    _print_targets(runner, sizes, scan_length, _bimamba_floor(min(sizes[0], FLOOR_LENGTH)))
    print(
        "\n  figures taken on a shared machine are indicative; rerun on a quiet one to report them"
    )
    return 0


def _bimamba_floor(length: int) -> tuple[float, float]:
    """Operations per token of a BiMamba block's forward and backward, and the GEMM rate now.

    Counted in this process on ``length`` tokens (the count per token barely moves with the
    length: every part of the block is per token or per chunk), the rate on a
    ``[16k, d_model] x [d_model, 4 d_model]`` product, the shape of the block's projections.
    """
    call, _ = setup_block(mixer="bimamba", length=length, backward=True)
    _, flops = count_flops(call)
    return flops / length, gemm_rate(FLOOR_LENGTH, D_MODEL)


def _print_targets(
    runner: _Runner, sizes: Sequence[int], scan_length: int, floor: tuple[float, float]
) -> None:
    print("\ntargets (measured in this run)")
    # 0. the BiMamba block per token at 64k (or the longest length measured), and its floor
    series = runner.series("block", "BiMamba block", True)
    flops_per_token, rate = floor
    floor_us = flops_per_token / rate * 1e6
    row = runner.find("block", "BiMamba block", 65536, True) or (series[-1] if series else None)
    value = row.us_per_token if row else None
    at = _fmt_len(row.length) if row else "64k"
    _target_line(
        f"BiMamba block us/token fwd+bwd at {at}",
        value,
        "<= 12",
        None if value is None else value <= 12,
        f"  (arithmetic floor {floor_us:.2g} us/token: {flops_per_token / 1e6:.2f} MFLOP/token "
        f"at {rate / 1e9:.0f} GFLOP/s, this run"
        + ("" if value is None else f"; {value / floor_us:.1f}x the floor")
        + ")",
    )
    # 1. linear time: BiMamba growth from 64k (or the smallest size) to the largest measured
    checkpointed = runner.series("block", "BiMamba block (checkpointed)", True)
    for label, rows in (("", series), (" (checkpointed)", checkpointed)):
        growth, note = None, ""
        if len(rows) >= 2:
            end = rows[-1]
            start = next((r for r in rows if r.length == 65536 < end.length), rows[0])
            if end.length > start.length:
                growth = (end.seconds / start.seconds) / (end.length / start.length)
                note = f"  ({_fmt_len(start.length)} -> {_fmt_len(end.length)}, fwd+bwd)"
        _target_line(
            f"BiMamba block{label} time growth / L growth",
            growth,
            "<= 1.15",
            None if growth is None else growth <= 1.15,
            note,
        )

    # 2-4. the scan
    chunked = runner.find("scan", "ssd_chunked", scan_length, True)
    pscan = runner.find("scan", "mambapy selective_scan", scan_length, True)
    reference = runner.series("scan", "ssd_reference", True)
    value = chunked.us_per_token if chunked else None
    _target_line(
        f"scan us/token fwd+bwd at {_fmt_len(scan_length)} (ssd_chunked)",
        value,
        "< 8",
        None if value is None else value < 8,
    )
    ratio = pscan.us_per_token / chunked.us_per_token if chunked and pscan else None
    _target_line(
        "scan speed-up vs mambapy selective_scan (fwd+bwd)",
        ratio,
        ">= 3x",
        None if ratio is None else ratio >= 3,
    )
    ratio = reference[-1].us_per_token / chunked.us_per_token if chunked and reference else None
    note = f"  (reference at {_fmt_len(reference[-1].length)}, per token)" if reference else ""
    _target_line(
        "scan speed-up vs ssd_reference (fwd+bwd)",
        ratio,
        ">= 50x",
        None if ratio is None else ratio >= 50,
        note,
    )

    # 5. BiMamba vs full attention at 64k (or the longest BiMamba length measured)
    mamba = runner.find("block", "BiMamba block", 65536, True) or (series[-1] if series else None)
    full = runner.series("block", "FullAttention block", True)
    ratio, note = None, ""
    if mamba and full:
        at = _fmt_len(mamba.length)
        exact = next((r for r in full if r.length == mamba.length), None)
        if exact is not None:
            ratio = exact.seconds / mamba.seconds
            note = f"  (fwd+bwd at {at}, measured)"
        else:
            base = full[-1]
            estimate = base.seconds * (mamba.length / base.length) ** 2
            ratio = estimate / mamba.seconds
            note = (
                f"  (fwd+bwd at {at}; full attention EXTRAPOLATED as L^2 from "
                f"{_fmt_len(base.length)}: {estimate:.3g} s)"
            )
    _target_line(
        "BiMamba vs FullAttention block at 64k",
        ratio,
        ">= 10x",
        None if ratio is None else ratio >= 10,
        note,
    )

    # 6. memory per token, at the longest length measured
    for label, rows in (("", series), (" (checkpointed)", checkpointed)):
        value, note = None, ""
        if rows:
            value = rows[-1].bytes_per_token
            note = f"  (fwd+bwd at {_fmt_len(rows[-1].length)})"
        _target_line(
            f"BiMamba block{label} peak bytes/token, d_model {D_MODEL}",
            value,
            "< 4096",
            None if value is None else value < 4096,
            note,
        )
    patch = runner.series("block", "PatchAttention block", True)
    if patch:
        note = f"  (fwd+bwd at {_fmt_len(patch[-1].length)})"
        _target_line(
            "PatchAttention block peak bytes/token", patch[-1].bytes_per_token, "", None, note
        )
    if not any(r.length == 65536 for r in series) and sizes:
        print("  note: 64k is not among --sizes; ratios use the nearest measured lengths")
