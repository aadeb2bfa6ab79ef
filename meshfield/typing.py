"""Which optional extensions can be used, asked at call time.

Each check imports its library the first time it is called (never when meshfield is imported)
and remembers the answer. Tests switch an extension off with :func:`disable_extension` or the
:func:`extensions_disabled` context manager so that the fallback path runs even on a machine
where the extension is installed.

Example
-------
>>> from meshfield.typing import extensions_disabled, mamba_ssm_available
>>> with extensions_disabled("mamba_ssm"):
...     mamba_ssm_available()
False
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator

__all__ = [
    "EXTENSIONS",
    "disable_extension",
    "enable_extension",
    "extensions_disabled",
    "mamba_ssm_available",
]

#: extension name -> modules that must import for it to be usable
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "mamba_ssm": ("mamba_ssm.ops.triton.ssd_combined", "causal_conv1d"),
}

_disabled: set[str] = set()
_probed: dict[str, bool] = {}


def _check_name(name: str) -> None:
    if name not in EXTENSIONS:
        msg = f"Unknown extension {name!r}; expected one of {sorted(EXTENSIONS)}"
        raise ValueError(msg)


def _available(name: str) -> bool:
    if name in _disabled:
        return False
    if name not in _probed:
        try:
            for module in EXTENSIONS[name]:
                importlib.import_module(module)
        except Exception:  # a broken install (no CUDA, ABI mismatch) counts as absent
            _probed[name] = False
        else:
            _probed[name] = True
    return _probed[name]


def mamba_ssm_available() -> bool:
    """True when the ``mamba_ssm`` Mamba-2 kernels and ``causal_conv1d`` import.

    Imports them on the first call (they pull in Triton and CUDA), so call it only where the
    CUDA path could actually be taken.
    """
    return _available("mamba_ssm")


def disable_extension(name: str) -> None:
    """Make the availability check of ``name`` answer False until :func:`enable_extension`."""
    _check_name(name)
    _disabled.add(name)


def enable_extension(name: str) -> None:
    """Undo :func:`disable_extension`; the check answers whether the library imports."""
    _check_name(name)
    _disabled.discard(name)


@contextlib.contextmanager
def extensions_disabled(*names: str) -> Iterator[None]:
    """Switch the named extensions off inside a ``with`` block (all of them by default)."""
    names = names or tuple(EXTENSIONS)
    for name in names:
        _check_name(name)
    before = set(_disabled)
    _disabled.update(names)
    try:
        yield
    finally:
        _disabled.clear()
        _disabled.update(before)
