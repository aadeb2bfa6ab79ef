"""The names of the CFD cases a data spec may name, and the modules that implement them.

The registry holds module paths only (strings): nothing here imports a case. It lives in the
data layer because a spec's ``case`` key is checked against it when the spec is loaded;
:mod:`meshfield.cases` imports the modules (:func:`meshfield.cases.get_case`).
"""

from __future__ import annotations

import difflib

__all__ = ["case_module", "case_names", "register_case"]

# name -> module that implements it; imported on first use by meshfield.cases.get_case
_REGISTRY: dict[str, str] = {
    "heat_plate": "meshfield.cases.heat_plate",
    "taylor_green": "meshfield.cases.taylor_green",
    "cylinder_wake": "meshfield.cases.cylinder_wake",
    "lid_driven_cavity": "meshfield.cases.lid_driven_cavity",
    "airfoil": "meshfield.cases.airfoil",
    "openfoam_runs": "meshfield.cases.openfoam_runs",
}


def case_names() -> tuple[str, ...]:
    """The registered case names, built-in ones first."""
    return tuple(_REGISTRY)


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
    _REGISTRY[name] = module


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
