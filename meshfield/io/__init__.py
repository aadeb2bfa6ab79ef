"""Reading and writing meshes and results.

:func:`load_mesh` reads any mesh file meshio or VTK reads, ``.pvd`` time series, OpenFOAM cases
and PyVista, meshio and trimesh objects as a :class:`~meshfield.data.MeshGraph`;
:func:`save`, :func:`to_pyvista` and :func:`to_meshio` write graphs back so that ParaView opens
them and :func:`load_mesh` reads the same graph again. :func:`from_grid` and :func:`to_grid`
convert regular numpy grids.
"""

from __future__ import annotations

import importlib
from typing import Any

from meshfield.io.load import load_mesh, supported_suffixes
from meshfield.io.openfoam import read_openfoam
from meshfield.io.write import save, to_meshio, to_pyvista

# numpy grids live in their own module, loaded on first use
_LAZY: dict[str, str] = {
    "from_grid": "meshfield.io.grid",
    "to_grid": "meshfield.io.grid",
}

__all__ = [
    "from_grid",
    "load_mesh",
    "read_openfoam",
    "save",
    "supported_suffixes",
    "to_grid",
    "to_meshio",
    "to_pyvista",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'meshfield.io' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
