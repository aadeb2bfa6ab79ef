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

``read_run(spec: DataSpec, conditions: dict[str, float], case: pathlib.Path) -> MeshGraph``
    (optional) Read a finished run made outside meshfield, as ``simulate`` returns it;
    ``meshfield datagen --from-runs FOLDER`` uses it. ``openfoam_runs`` is the case for any
    one-cell-thick OpenFOAM case.

Cases are found by name (:func:`get_case`) and imported only then. :func:`register_case`
adds a user's own case module.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol

from meshfield.data.registry import case_module, case_names, register_case

__all__ = ["CASES", "Case", "case_module", "get_case", "register_case"]


def __getattr__(name: str) -> Any:
    if name == "CASES":  # the registered names, read when asked (register_case adds to them)
        return case_names()
    msg = f"module 'meshfield.cases' has no attribute {name!r}"
    raise AttributeError(msg)


class Case(Protocol):
    """What a case module provides (``check_requirements`` and ``check_spec`` are optional)."""

    def simulate(self, spec: Any, conditions: dict[str, float], workdir: Any) -> Any: ...


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
