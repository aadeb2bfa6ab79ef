"""meshfield: learn physical fields on unstructured meshes.

Meshes become PyTorch Geometric graphs (:mod:`meshfield.io`, :mod:`meshfield.data`), nodes are
ordered along space-filling curves (:mod:`meshfield.serialize`) and mixed by a hybrid stack of
Mamba and attention blocks (:mod:`meshfield.nn`).

Importing meshfield is cheap: the readers, writers and layers load on first use, and optional
libraries (pyvista, trimesh, mamba_ssm) only inside the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

# public name -> module that defines it; resolved on first access
_LAZY: dict[str, str] = {
    "load_mesh": "meshfield.io",
    "save": "meshfield.io",
    "to_pyvista": "meshfield.io",
    "to_meshio": "meshfield.io",
    "from_grid": "meshfield.io",
    "to_grid": "meshfield.io",
    "MeshGraph": "meshfield.data",
    "validate": "meshfield.data",
    "load_model": "meshfield.checkpoint",
    "save_checkpoint": "meshfield.checkpoint",
    "load_dataset": "meshfield.data",
    "load_spec": "meshfield.data",
    "FieldResult": "meshfield.result",
    "generate": "meshfield.api",
    "generate_many": "meshfield.api",
    "tune_malloc": "meshfield.runtime",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'meshfield' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
