"""Process-level settings that make large CPU tensors cheap to allocate.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB) with a fresh
``mmap`` and hands it back to the system on ``free``. A model step on a 100k-node mesh
allocates and frees hundreds of such blocks (one ``[N, 512]`` float32 activation is 200 MB), so
each one is page-faulted and zeroed by the kernel again: on the CPU measured, an HMT forward
pass at 100k nodes took 11.1 s with glibc's defaults and 6.7 s after :func:`tune_malloc`, a
(checkpointed) training step 42.1 s and 27.9 s (``meshfield bench model`` with and without
``--system-malloc``).

:func:`tune_malloc` asks glibc to serve large blocks from its heap and to keep freed memory for
reuse, which is what allocators such as jemalloc or tcmalloc do by default.

The ``meshfield`` command calls it at start-up; library users call it once at the top of a
script. ``MESHFIELD_TUNE_MALLOC=0`` in the environment turns it off (for example to measure
the difference). The cost: memory freed by a large step stays in the process (it is reused by
the next step) instead of going back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["ENV_VARIABLE", "malloc_setting", "tune_malloc"]

#: environment variable that turns :func:`tune_malloc` off when set to ``0``
ENV_VARIABLE = "MESHFIELD_TUNE_MALLOC"

# mallopt parameters of glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# mallopt takes an int and glibc stores it as a size_t: -1 means never trim the heap (a
# threshold of 2 GiB still gave the 2 GB activations of a 1M-node step back to the system)
_TRIM_THRESHOLD = -1

_applied: bool | None = None


def _disabled() -> bool:
    return os.environ.get(ENV_VARIABLE, "1").strip() == "0"


def tune_malloc() -> bool:
    """Serve large blocks from glibc's heap and keep freed memory; True where applied.

    Nothing happens (False) off Linux/glibc, or when ``MESHFIELD_TUNE_MALLOC=0``. Calling it
    again is harmless. It affects allocations made after the call, so call it before the
    model runs.

    Example
    -------
    >>> import meshfield.runtime
    >>> meshfield.runtime.tune_malloc() in (True, False)
    True
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if _disabled() or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _applied


def malloc_setting() -> str:
    """One line for benchmark reports: whether :func:`tune_malloc` is in effect."""
    if _applied:
        return "glibc malloc, large blocks kept in the heap (meshfield.runtime.tune_malloc)"
    if _disabled():
        return f"system malloc defaults ({ENV_VARIABLE}=0)"
    return "system malloc defaults"
