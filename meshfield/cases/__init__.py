"""CFD cases: one module per case, each making reference simulations from a data spec.

A case module defines

``simulate(spec: DataSpec, conditions: dict[str, float], workdir: pathlib.Path) -> MeshGraph``
    One run: build the mesh from ``spec.mesh``, solve with ``spec.solver.settings`` for the
    given condition values, and return a :class:`~meshfield.data.MeshGraph` with ``pos``,
    ``cells``, named ``boundary`` groups, ``fields`` ``[T, N, C]`` (channels named as by
    :func:`meshfield.data.channel_names` for the fields of ``spec.fields``), ``times`` ``[T]``
    (``spec.time.snapshot_times()``; ``[0.0]`` for a steady case) and ``cond`` / ``cond_names``
    in the order of ``spec.condition_names``. ``workdir`` is an empty scratch folder of its
    own, removed after a successful run.

``check_requirements() -> None`` (optional)
    Raise :class:`~meshfield.errors.MissingDependencyError` with install instructions when an
    external solver is missing.

``check_spec(spec: DataSpec) -> None`` (optional)
    Raise :class:`~meshfield.errors.SpecError` for settings the case cannot run (unknown mesh
    generator, missing condition, ...), before any run starts.

Cases are found by name (:func:`get_case`) and imported only then. :func:`register_case`
adds a user's own case module.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType
from typing import Any, Protocol

__all__ = ["CASES", "Case", "case_module", "get_case", "register_case"]

# name -> module that implements it; imported on first use
_REGISTRY: dict[str, str] = {
    "heat_plate": "meshfield.cases.heat_plate",
    "taylor_green": "meshfield.cases.taylor_green",
    "cylinder_wake": "meshfield.cases.cylinder_wake",
    "lid_driven_cavity": "meshfield.cases.lid_driven_cavity",
    "airfoil": "meshfield.cases.airfoil",
}

#: The names of the built-in cases.
CASES: tuple[str, ...] = tuple(_REGISTRY)


class Case(Protocol):
    """What a case module provides (``check_requirements`` and ``check_spec`` are optional)."""

    def simulate(self, spec: Any, conditions: dict[str, float], workdir: Any) -> Any: ...


def register_case(name: str, module: str) -> None:
    """Make a case module known by name.

    Parameters
    ----------
    name : str
        Case name, as written in a spec's ``case`` key.
    module : str
        Importable module path that defines ``simulate``.

    Notes
    -----
    Worker processes of :func:`meshfield.cases.datagen.datagen` import the module by its path,
    so it must be importable there too (not defined in ``__main__``).
    """
    global CASES
    _REGISTRY[name] = module
    CASES = tuple(_REGISTRY)


def case_module(name: str) -> str:
    """The module path of the case ``name``.

    Raises
    ------
    SpecError
        When no case of that name is registered.
    """
    from meshfield.errors import SpecError

    module = _REGISTRY.get(name)
    if module is None:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        msg = f"case: unknown case {name!r} (expected one of {list(_REGISTRY)}){hint}"
        raise SpecError(msg)
    return module


def get_case(name: str) -> ModuleType:
    """Import and return the module of the case ``name``.

    Parameters
    ----------
    name : str
        A name in :data:`CASES` (or registered by :func:`register_case`).

    Returns
    -------
    module
        The case module, with ``simulate`` and optionally ``check_requirements`` and
        ``check_spec``.

    Raises
    ------
    SpecError
        When no case of that name is registered.

    Example
    -------
    >>> get_case("taylor_green").__name__
    'meshfield.cases.taylor_green'
    """
    return importlib.import_module(case_module(name))
