"""Time and peak memory of one call, measured in a fresh process.

Peak memory of PyTorch code on the CPU is not visible to ``tracemalloc``; the honest figure is
the resident set size of a process that did nothing else. :func:`measure` runs the call in a
spawned child process, records the RSS after imports and set-up (the baseline), runs the call
``repeat`` times and reports the best wall time and the peak RSS above the baseline. The child
calls :func:`meshfield.runtime.tune_malloc` first, as the ``meshfield`` command does, unless
told not to (``tune_malloc=False``, or ``MESHFIELD_TUNE_MALLOC=0`` in the environment).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import queue as queue_module
import resource
import signal
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Measurement", "measure", "rss_bytes"]


@dataclass(frozen=True)
class Measurement:
    """Result of :func:`measure`."""

    seconds: float  #: best wall time over the repeats
    peak_bytes: int  #: peak resident memory above the baseline
    extra: dict[str, Any]  #: whatever the set-up function returned under ``"extra"``

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


def rss_bytes() -> int:
    """Current resident set size of this process in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _child(
    target: str,
    kwargs: dict[str, Any],
    repeat: int,
    warmup: int,
    threads: int | None,
    tune: bool,
    queue: Any,
) -> None:
    try:
        import torch

        from meshfield.runtime import malloc_setting, tune_malloc

        if tune:
            tune_malloc()
        if threads is not None:
            torch.set_num_threads(threads)
        module_name, func_name = target.split(":")
        setup = getattr(importlib.import_module(module_name), func_name)
        # setup(**kwargs) builds inputs and returns (call, extra); call() is what is measured
        call, extra = setup(**kwargs)
        baseline = rss_bytes()
        for _ in range(warmup):  # off the clock, but inside the memory figure
            call()
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - t0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        extra = {"malloc": malloc_setting(), **extra}
        queue.put(("ok", best, max(peak - baseline, 0), extra))
    except BaseException as exc:  # report any failure to the parent, never hang it
        queue.put(("error", f"{type(exc).__name__}: {exc}", 0, {}))


def measure(
    target: str,
    *,
    repeat: int = 3,
    warmup: int = 0,
    threads: int | None = None,
    tune_malloc: bool = True,
    timeout: float = 600.0,
    **kwargs: Any,
) -> Measurement:
    """Measure ``call()`` where ``call, extra = module.setup(**kwargs)``, in a fresh process.

    Parameters
    ----------
    target : str
        ``"package.module:function"``; the function builds its inputs from ``kwargs`` and
        returns ``(call, extra)``.
    repeat : int, default: 3
        How many times ``call`` runs; the best time is reported. The peak memory covers all runs.
    warmup : int, default: 0
        Calls before the timed ones (first-touch page faults, lazy initialization); their
        memory counts in the peak, their time does not.
    threads : int, optional
        ``torch.set_num_threads`` in the child; default: PyTorch's own choice.
    tune_malloc : bool, default: True
        Call :func:`meshfield.runtime.tune_malloc` in the child (False: glibc's defaults).
    timeout : float, default: 600
        Seconds to wait for the child before giving up.

    Notes
    -----
    The peak is ``ru_maxrss`` minus the RSS after set-up, so memory that set-up allocated and
    freed again before the baseline can hide in it; set-up functions should build only inputs.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_child, args=(target, kwargs, repeat, warmup, threads, tune_malloc, queue)
    )
    proc.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                status, seconds, peak, extra = queue.get(timeout=min(1.0, timeout))
                break
            except queue_module.Empty:
                # a child killed by the system (out of memory) never reports: say so
                if not proc.is_alive():
                    code = proc.exitcode
                    why = " (killed: out of memory?)" if code == -signal.SIGKILL else ""
                    msg = (
                        f"benchmark {target}({kwargs}) died with exit code {code}{why}"
                    )
                    raise RuntimeError(msg) from None
                if time.monotonic() > deadline:
                    msg = f"benchmark {target}({kwargs}) timed out after {timeout:g} s"
                    raise RuntimeError(msg) from None
    finally:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
    if status != "ok":
        msg = f"benchmark {target}({kwargs}) failed: {seconds}"
        raise RuntimeError(msg)
    return Measurement(seconds=seconds, peak_bytes=int(peak), extra=extra)
