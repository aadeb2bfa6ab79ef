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

The ``meshfield`` command calls it at start-up, and :func:`meshfield.generate` and
:class:`meshfield.train.Trainer` the first time they run (a 4.5k-node rollout step took 78 ms
without it and 57 ms with it, measured before the other speed-ups); other library users call
it once at the top of a script. ``MESHFIELD_TUNE_MALLOC=0`` in the environment turns it off (for example to measure
the difference). The cost: memory freed by a large step stays in the process (it is reused by
the next step) instead of going back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "COMPILE_CACHE_VARIABLE",
    "ENV_VARIABLE",
    "CompiledFunction",
    "cache_home",
    "compile_cache_dir",
    "malloc_setting",
    "tune_malloc",
]

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


# -------------------------------------------------------------------------------------------
# compiled steps

#: inductor's cache folder; meshfield sets it (when unset) to :func:`compile_cache_dir`
COMPILE_CACHE_VARIABLE = "TORCHINDUCTOR_CACHE_DIR"


def cache_home() -> Path:
    """meshfield's cache folder: ``$XDG_CACHE_HOME/meshfield`` (by default
    ``~/.cache/meshfield``); compiled model steps and built kernels live below it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "meshfield"


def compile_cache_dir() -> Path:
    """Where compiled model steps are cached between processes.

    ``$TORCHINDUCTOR_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/meshfield/inductor`` (by
    default ``~/.cache/meshfield/inductor``): a folder that survives a reboot, unlike
    inductor's own default under ``/tmp``.
    """
    given = os.environ.get(COMPILE_CACHE_VARIABLE)
    if given:
        return Path(given)
    return cache_home() / "inductor"


def _use_compile_cache() -> None:
    # importing torch._inductor sets the variable to inductor's default under /tmp: replace
    # that default (not a folder the user chose) by ours
    given = os.environ.get(COMPILE_CACHE_VARIABLE)
    if given:
        try:
            from torch._inductor.runtime.cache_dir_utils import default_cache_dir
        except ImportError:  # another layout of torch: leave the setting alone
            return
        if given != default_cache_dir():
            return
        del os.environ[COMPILE_CACHE_VARIABLE]
    os.environ[COMPILE_CACHE_VARIABLE] = str(compile_cache_dir())


class CompiledFunction:
    """A function under ``torch.compile`` that falls back to itself, once and for good.

    The first call compiles ``fn`` (inductor; on the CPU its C++ backend) for the shapes it
    sees; a call with other sizes (another mesh) compiles again, with the sizes that changed
    symbolic (torch's automatic dynamic shapes), which later meshes often reuse. Compiling
    with every size symbolic from the start (``dynamic=True``) made the compilation of a
    training step several times longer on a 2-core CPU (over 10 minutes), for no faster step.
    The compiled artifacts go to :func:`compile_cache_dir`, so a later process with the same
    shapes loads them instead of compiling. When compilation or the compiled call fails (no C++ compiler, an operation
    inductor cannot handle), one ``RuntimeWarning`` says why and ``fn`` runs eagerly from then
    on; an error of ``fn`` itself is raised again by the eager call.

    Parameters
    ----------
    fn : callable
        The eager function (e.g. a bound method of a model).
    label : str
        Its name in the warning.
    **options
        Further arguments of :func:`torch.compile` (``mode``, ``fullgraph``, ...).

    Attributes
    ----------
    failed : bool
        Whether it fell back to eager.
    """

    def __init__(self, fn: Callable[..., Any], label: str, **options: Any) -> None:
        self.eager = fn
        self.label = label
        self.options = dict(options)
        self.failed = False
        self._compiled: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed:
            return self.eager(*args, **kwargs)
        try:
            if self._compiled is None:
                import torch

                _use_compile_cache()
                self._compiled = torch.compile(self.eager, **self.options)
            return self._compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any compilation failure: eager from now on
            self.failed = True
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            warnings.warn(
                f"torch.compile of {self.label} failed ({type(exc).__name__}: {reason}); "
                "running it eagerly",
                RuntimeWarning,
                stacklevel=2,
            )
            return self.eager(*args, **kwargs)
