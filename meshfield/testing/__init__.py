"""Public test helpers: tiny meshes with known answers, assertions for equivariance, round
trips and backend parity, and what autograd keeps for a backward pass. Downstream projects
can use them in their own test suites."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "assert_permutation_equivariant": "meshfield.testing.equivariance",
    "assert_roundtrip": "meshfield.testing.roundtrip",
    "assert_backend_parity": "meshfield.testing.parity",
    "tiny_meshes": "meshfield.testing.meshes",
    "saved_numel": "meshfield.testing.memory",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'meshfield.testing' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(module), name)
