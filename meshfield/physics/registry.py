"""The PDEs by name: the one registry of the equations meshfield computes residuals of.

Data specs (``pde: {name: ...}``), ``meshfield finetune --pde`` and the refiner's saved
configuration name a PDE; :func:`make_pde` builds it, :func:`pde_to_dict` and
:func:`pde_from_dict` store it as JSON.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from meshfield.physics.advection_diffusion import AdvectionDiffusion
from meshfield.physics.burgers import Burgers
from meshfield.physics.heat import Heat
from meshfield.physics.navier_stokes import NavierStokes
from meshfield.physics.pde import PDE
from meshfield.physics.poisson import Poisson
from meshfield.physics.wave import Wave

__all__ = ["PDE_CLASSES", "make_pde", "pde_from_dict", "pde_to_dict"]

#: PDE names (as in data specs and ``meshfield finetune --pde``) -> classes
PDE_CLASSES: dict[str, type[PDE]] = {
    "navier_stokes": NavierStokes,
    "heat": Heat,
    "burgers": Burgers,
    "advection_diffusion": AdvectionDiffusion,
    "wave": Wave,
    "poisson": Poisson,
}

def make_pde(name: str, **params: Any) -> PDE:
    """A PDE of :data:`PDE_CLASSES` by name, e.g. ``make_pde("heat", alpha=0.05)``."""
    if name not in PDE_CLASSES:
        msg = f"Unknown PDE {name!r}; expected one of {sorted(PDE_CLASSES)}"
        raise ValueError(msg)
    cls = PDE_CLASSES[name]
    known = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    unknown = sorted(set(params) - known)
    if unknown:
        msg = f"{cls.__name__} has no parameter {unknown[0]!r} (it has {sorted(known)})"
        raise ValueError(msg)
    return cls(**params)


def pde_to_dict(pde: PDE) -> dict[str, Any]:
    """``{"name": ..., "params": {...}}`` (JSON) of a PDE of :data:`PDE_CLASSES`."""
    names = [name for name, cls in PDE_CLASSES.items() if type(pde) is cls]
    if not names or not dataclasses.is_dataclass(pde):
        msg = (
            f"Cannot store a {type(pde).__name__} by name; add its class to "
            "meshfield.physics.registry.PDE_CLASSES first"
        )
        raise ValueError(msg)
    params = {}
    for f in dataclasses.fields(pde):
        value = getattr(pde, f.name)
        params[f.name] = list(value) if isinstance(value, tuple) else value
    return {"name": names[0], "params": json.loads(json.dumps(params))}


def pde_from_dict(values: Mapping[str, Any]) -> PDE:
    """Inverse of :func:`pde_to_dict`."""
    params = dict(values.get("params") or {})
    for key, value in params.items():
        if isinstance(value, list):
            params[key] = tuple(value)
    return make_pde(str(values.get("name")), **params)
