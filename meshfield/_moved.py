"""Deprecated aliases of public names that moved to another module."""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

__all__ = ["moved_name"]


def moved_name(old_module: str, name: str, new_module: ModuleType) -> Any:
    """``new_module.<name>``, with a :class:`DeprecationWarning` that names the new place.

    The caller imports ``new_module`` itself (a plain import the layering test sees), then
    calls this from its module-level ``__getattr__``.
    """
    warnings.warn(
        f"{old_module}.{name} moved to {new_module.__name__}.{name}; the old name will be "
        "removed in a future release",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(new_module, name)
