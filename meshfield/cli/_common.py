"""What several commands share: the bundled mesh, errors on one line, ``NAME=VALUE`` options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def default_mesh_path() -> Path:
    """The 2D cylinder-in-channel mesh bundled with meshfield (MSH 4.1, named boundaries)."""
    return Path(__file__).parents[1] / "assets" / "cylinder.msh"


def _expected_errors() -> tuple[type[BaseException], ...]:
    from meshfield.errors import MeshfieldError

    return (MeshfieldError, ValueError, TypeError, OSError, ImportError, FloatingPointError)


def _one_line(exc: BaseException) -> str:
    """The message of an error on one line (the first non-empty one; the type if none)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def _parse_conditions(items: list[str] | None) -> dict[str, float]:
    """``["Re=150", ...]`` -> ``{"Re": 150.0}``."""
    conditions: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            msg = f"--cond expects NAME=VALUE, e.g. --cond Re=150 (got {item!r})"
            raise ValueError(msg)
        if name in conditions:
            msg = f"--cond {name} is given twice"
            raise ValueError(msg)
        try:
            conditions[name] = float(value)
        except ValueError:
            msg = f"--cond {item!r}: {value.strip()!r} is not a number"
            raise ValueError(msg) from None
    return conditions


def _parse_renames(items: list[str] | None) -> dict[str, str]:
    """``["top=walls", ...]`` -> ``{"top": "walls"}``."""
    renames: dict[str, str] = {}
    for item in items or []:
        name, sep, trained = (part.strip() for part in item.partition("="))
        if not sep or not name or not trained:
            msg = f"--boundary expects NAME=TRAINED, e.g. --boundary top=walls (got {item!r})"
            raise ValueError(msg)
        if name in renames:
            msg = f"--boundary {name} is given twice"
            raise ValueError(msg)
        renames[name] = trained
    return renames


def _print_warnings(caught: list[Any]) -> None:
    """Show what generate warned about (extrapolation, no residual), not library deprecations."""
    quiet = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
    for w in caught:
        if not issubclass(w.category, quiet):
            print(f"warning: {w.message}", file=sys.stderr)
