r"""The 2D Taylor-Green vortex: an exact solution of the incompressible Navier-Stokes equations.

On the periodic square :math:`[0, 2\pi)^2` the velocity and pressure

.. math::
    u &= \sin x \cos y \, e^{-2 \nu t}, \qquad v = -\cos x \sin y \, e^{-2 \nu t}, \\
    p &= \frac{\rho}{4} (\cos 2x + \cos 2y) \, e^{-4 \nu t}

solve :math:`\partial_t \mathbf u + (\mathbf u \cdot \nabla) \mathbf u = -\nabla p / \rho + \nu
\Delta \mathbf u`, :math:`\nabla \cdot \mathbf u = 0`. The fields are sampled on a regular grid
(:func:`meshfield.io.from_grid`, one period, no repeated end points), so this case is the grid
special case of meshfield and needs no solver. Condition: the kinematic viscosity ``nu``
(or the Reynolds number ``Re``, with :math:`\nu = 1 / Re` for unit velocity and length).

Spec keys read here: ``mesh.generator: periodic_grid`` with ``params: {n: points per axis,
length: period (default 2 pi)}``; ``pde.constants.rho`` (default 1); ``fields: {U: ..., p:
...}``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.errors import SpecError

__all__ = ["check_spec", "simulate", "taylor_green_fields"]

_GENERATORS = ("periodic_grid",)


def taylor_green_fields(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, *, nu: float, rho: float = 1.0, k: float = 1.0
) -> np.ndarray:
    r"""The exact Taylor-Green fields ``(u, v, p)`` at points and times.

    With wave number ``k`` (period :math:`2\pi / k`) the decay rates are :math:`2 \nu k^2`
    for the velocity and :math:`4 \nu k^2` for the pressure.

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates, ``[N]``.
    t : numpy.ndarray
        Times, ``[T]``.
    nu : float
        Kinematic viscosity.
    rho : float, default: 1.0
        Density.
    k : float, default: 1.0
        Wave number.

    Returns
    -------
    numpy.ndarray
        float64 ``[T, N, 3]``: ``u``, ``v``, ``p``.

    Example
    -------
    >>> x, y = np.array([0.0, np.pi / 2]), np.array([0.0, 0.0])
    >>> fields = taylor_green_fields(x, y, np.array([0.0]), nu=0.1)  # [T = 1, N = 2, 3]
    >>> (fields[0].round(6) + 0.0).tolist()
    [[0.0, 0.0, 0.5], [1.0, 0.0, 0.0]]
    """
    t = np.asarray(t, dtype=np.float64)[:, None]
    decay_u = np.exp(-2.0 * nu * k**2 * t)
    decay_p = np.exp(-4.0 * nu * k**2 * t)
    kx, ky = k * np.asarray(x, dtype=np.float64), k * np.asarray(y, dtype=np.float64)
    u = np.sin(kx) * np.cos(ky) * decay_u
    v = -np.cos(kx) * np.sin(ky) * decay_u
    p = 0.25 * rho * (np.cos(2 * kx) + np.cos(2 * ky)) * decay_p
    return np.stack([u, v, p], axis=-1)


def _viscosity(conditions: dict[str, float]) -> float:
    if "nu" in conditions:
        return float(conditions["nu"])
    if "Re" in conditions:
        return 1.0 / float(conditions["Re"])
    msg = f"conditions: taylor_green needs 'nu' or 'Re' (got {list(conditions)})"
    raise SpecError(msg)


def check_spec(spec: Any) -> None:
    """Raise :class:`~meshfield.errors.SpecError` for a spec this case cannot run."""
    prefix = f"{spec.source}: " if spec.source else ""
    if spec.mesh.generator not in _GENERATORS:
        msg = f"{prefix}mesh.generator: taylor_green makes {list(_GENERATORS)} (got {spec.mesh.generator!r})"
        raise SpecError(msg)
    names = set(spec.condition_names)
    if not names & {"nu", "Re"} or names - {"nu", "Re"} or len(names) != 1:
        msg = f"{prefix}conditions: taylor_green takes one of 'nu' or 'Re' (got {sorted(names)})"
        raise SpecError(msg)
    n = spec.mesh.params.get("n", 32)
    if isinstance(n, bool) or not isinstance(n, int) or n < 4:
        msg = f"{prefix}mesh.params.n: expected an integer >= 4 (got {n!r})"
        raise SpecError(msg)
    if sorted(spec.fields) != ["U", "p"]:
        msg = f"{prefix}fields: taylor_green gives U and p (got {list(spec.fields)})"
        raise SpecError(msg)


def simulate(spec: Any, conditions: dict[str, float], workdir: Path) -> Any:
    """One Taylor-Green run: the exact fields on the periodic grid at the spec's times.

    Parameters
    ----------
    spec : DataSpec
        A ``taylor_green`` spec.
    conditions : dict
        ``{"nu": value}`` or ``{"Re": value}``.
    workdir : Path
        Scratch folder (unused: nothing is written).

    Returns
    -------
    MeshGraph
        Grid graph with ``grid_shape`` ``(n, n)``, fields ``U_x``, ``U_y``, ``p``, the boundary
        nodes of the grid in the group ``"periodic"``.

    Shapes
    ------
    - **fields**: ``[T, n * n, 3]``; **times**: ``[T]``; **cond**: ``[1]``
    """
    import torch

    from meshfield.io.grid import from_grid

    check_spec(spec)
    n = int(spec.mesh.params.get("n", 32))
    length = float(spec.mesh.params.get("length", 2.0 * math.pi))
    rho = float(spec.pde.constants.get("rho", 1.0))
    nu = _viscosity(conditions)
    times = spec.time.snapshot_times()
    graph = from_grid((n, n), spacing=length / n)
    pos = graph.pos.to(torch.float64).numpy()
    # evaluate at the stored float32 coordinates, so the fields are exact at data.pos
    values = taylor_green_fields(
        pos[:, 0], pos[:, 1], times, nu=nu, rho=rho, k=2.0 * math.pi / length
    )
    graph.fields = torch.from_numpy(values.astype(np.float32))
    graph.field_names = ["U_x", "U_y", "p"]
    graph.times = torch.from_numpy(times.astype(np.float32))
    graph.boundary_names = ["interior", "periodic"]
    name = spec.condition_names[0]
    graph.cond = torch.tensor([conditions[name]], dtype=torch.float32)
    graph.cond_names = [name]
    return graph
