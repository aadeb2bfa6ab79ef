"""The PDE a data spec names, set up for one run's conditions.

A data spec (``data_specs/*.yaml``, stored in every checkpoint trained from one) names its
governing equations under ``pde`` with their constants; :func:`pde_from_spec` turns that and a
run's conditions into a :class:`~meshfield.physics.PDE` whose residual can be computed on the
run's mesh (``meshfield generate``, ``meshfield evaluate``).
"""

from __future__ import annotations

import math

from collections.abc import Mapping, Sequence
from typing import Any

from meshfield.physics.pde import PDE

__all__ = ["pde_from_spec"]

_VELOCITY_SCALES = ("U_inf", "U_lid", "U_ref", "U")
_LENGTH_SCALES = ("D", "L", "L_ref", "chord")


def pde_from_spec(
    spec: Mapping[str, Any] | Any,
    conditions: Mapping[str, float],
    field_names: Sequence[str],
    *,
    dim: int = 2,
) -> PDE | None:
    r"""The PDE a data spec names, set up with its constants and the conditions of one run.

    ``navier_stokes`` becomes :class:`~meshfield.physics.NavierStokes` with the kinematic
    viscosity :math:`\nu = U L / Re` (``U`` from the constants ``U_inf``/``U_lid``/``U_ref``/
    ``U``, ``L`` from ``D``/``L``/``L_ref``/``chord``, each 1 when absent) or the condition or
    constant ``nu``, and ``rho`` (default 1); steady specs drop the time derivative. ``heat``
    becomes :class:`~meshfield.physics.Heat` on the single scalar field, with ``alpha`` from the
    conditions or constants.

    Parameters
    ----------
    spec : mapping or DataSpec
        The data spec (as stored in a checkpoint, or loaded).
    conditions : mapping
        Condition values of the run, e.g. ``{"Re": 150.0}``.
    field_names : sequence of str
        The channels the PDE will read.
    dim : int, default: 2
        Spatial dimension.

    Returns
    -------
    PDE or None
        ``None`` when the spec names no PDE this function knows, or lacks a constant it needs.

    Example
    -------
    >>> spec = {"pde": {"name": "navier_stokes", "constants": {"U_inf": 2.0, "D": 1.0}}}
    >>> pde_from_spec(spec, {"Re": 100.0}, ["U_x", "U_y", "p"]).nu
    0.02
    """
    from meshfield.physics.heat import Heat
    from meshfield.physics.navier_stokes import NavierStokes

    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping):
        return None
    pde = spec.get("pde")
    if not isinstance(pde, Mapping) or not pde.get("name"):
        return None
    name = str(pde["name"]).lower()
    constants = {str(k): float(v) for k, v in (pde.get("constants") or {}).items()}
    values = {**constants, **{str(k): float(v) for k, v in conditions.items()}}
    time = spec.get("time")
    steady = isinstance(time, Mapping) and bool(time.get("steady"))
    names = list(field_names)
    if name in ("navier_stokes", "navierstokes", "incompressible_navier_stokes"):
        velocity = [f"U_{a}" for a in "xyz"[:dim]]
        if any(v not in names for v in velocity) or "p" not in names:
            return None
        rho = values.get("rho", 1.0)
        for key in ("nu", "Re", "rho"):
            if key in values and not (math.isfinite(values[key]) and values[key] > 0):
                msg = f"navier_stokes: {key} must be a positive number (got {values[key]:g})"
                raise ValueError(msg)
        if "nu" in values:
            nu = values["nu"]
        elif "Re" in values:
            scale_u = next((values[k] for k in _VELOCITY_SCALES if k in values), 1.0)
            scale_l = next((values[k] for k in _LENGTH_SCALES if k in values), 1.0)
            nu = scale_u * scale_l / values["Re"]
        else:
            return None
        return NavierStokes(dim=dim, nu=nu, rho=rho, viscosity="nu", steady=steady)
    if name == "heat":
        if len(names) != 1 or "alpha" not in values:
            return None
        heat = Heat(dim=dim, alpha=values["alpha"], field=names[0])
        if steady:
            return None
        return heat
    return None
