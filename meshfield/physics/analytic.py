r"""Closed-form solutions of the PDEs in :mod:`meshfield.physics`, for tests and docs.

Every function maps coordinates ``[..., D]`` (layout ``(x, y[, z][, t])``) to field values
``[..., C]`` with plain torch operations, so it is differentiable and can stand in for a
model's point-query decoder. The channel order is the ``fields`` order of the matching PDE.

References
----------
G. I. Taylor and A. E. Green, "Mechanism of the production of small eddies from large ones",
Proc. R. Soc. Lond. A 158 (1937) 499-521.
L. I. G. Kovasznay, "Laminar flow behind a two-dimensional grid", Proc. Camb. Phil. Soc. 44
(1948) 58-62.
C. R. Ethier and D. A. Steinman, "Exact fully 3D Navier-Stokes solutions for benchmarking",
Int. J. Numer. Meth. Fluids 19 (1994) 369-375.
J. D. Cole, "On a quasi-linear parabolic equation occurring in aerodynamics", Quart. Appl.
Math. 9 (1951) 225-236; E. Hopf, Comm. Pure Appl. Math. 3 (1950) 201-230.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "cole_hopf_burgers",
    "ethier_steinman",
    "heat_kernel",
    "kovasznay",
    "manufactured_poisson",
    "manufactured_poisson_source",
    "plane_waves",
    "taylor_green",
]


def taylor_green(coords: Tensor, *, nu: float, k: float = 1.0, rho: float = 1.0) -> Tensor:
    r"""Decaying 2D Taylor-Green vortex, an exact solution of the unsteady Navier-Stokes equations.

    .. math::
        u = \cos kx \,\sin ky\, F(t), \quad v = -\sin kx\, \cos ky\, F(t), \quad
        p = -\frac{\rho}{4}(\cos 2kx + \cos 2ky) F(t)^2, \quad F = e^{-2\nu k^2 t}

    Parameters
    ----------
    coords : Tensor
        ``[..., 3]``: ``(x, y, t)``.
    nu : float
        Kinematic viscosity (``1 / Re``).
    k : float, optional
        Wavenumber. default: 1.0.
    rho : float, optional
        Density. default: 1.0.

    Returns
    -------
    Tensor
        ``[..., 3]``: ``(U_x, U_y, p)``.
    """
    x, y, t = coords.unbind(-1)
    decay = torch.exp(-2.0 * nu * k**2 * t)
    u = torch.cos(k * x) * torch.sin(k * y) * decay
    v = -torch.sin(k * x) * torch.cos(k * y) * decay
    p = -0.25 * rho * (torch.cos(2 * k * x) + torch.cos(2 * k * y)) * decay**2
    return torch.stack([u, v, p], dim=-1)


def kovasznay(coords: Tensor, *, Re: float) -> Tensor:
    r"""Kovasznay flow, an exact steady solution of the 2D Navier-Stokes equations.

    .. math::
        \lambda = \frac{Re}{2} - \sqrt{\frac{Re^2}{4} + 4\pi^2}, \quad
        u = 1 - e^{\lambda x}\cos 2\pi y, \quad
        v = \frac{\lambda}{2\pi} e^{\lambda x} \sin 2\pi y, \quad
        p = \frac12 (1 - e^{2\lambda x})

    Parameters
    ----------
    coords : Tensor
        ``[..., 2]`` (``(x, y)``; a trailing time coordinate is ignored).
    Re : float
        Reynolds number (:math:`\nu = 1/Re`).

    Returns
    -------
    Tensor
        ``[..., 3]``: ``(U_x, U_y, p)``.
    """
    x, y = coords[..., 0], coords[..., 1]
    lam = 0.5 * Re - math.sqrt(0.25 * Re**2 + 4.0 * math.pi**2)
    e = torch.exp(lam * x)
    u = 1.0 - e * torch.cos(2 * math.pi * y)
    v = lam / (2 * math.pi) * e * torch.sin(2 * math.pi * y)
    p = 0.5 * (1.0 - e**2)
    return torch.stack([u, v, p], dim=-1)


def ethier_steinman(
    coords: Tensor, *, nu: float, a: float = math.pi / 4, d: float = math.pi / 2
) -> Tensor:
    r"""Ethier-Steinman flow, an exact unsteady solution of the 3D Navier-Stokes equations.

    .. math::
        u = -a\,[e^{ax}\sin(ay + dz) + e^{az}\cos(ax + dy)]\, e^{-\nu d^2 t}

    and cyclic permutations for :math:`v, w`; the pressure is given in the reference
    (:math:`\rho = 1`).

    Parameters
    ----------
    coords : Tensor
        ``[..., 4]``: ``(x, y, z, t)``.
    nu : float
        Kinematic viscosity.
    a, d : float, optional
        Parameters of the family. default: :math:`\pi/4`, :math:`\pi/2`.

    Returns
    -------
    Tensor
        ``[..., 4]``: ``(U_x, U_y, U_z, p)``.
    """
    x, y, z, t = coords.unbind(-1)
    decay = torch.exp(-nu * d**2 * t)
    u = -a * (
        torch.exp(a * x) * torch.sin(a * y + d * z) + torch.exp(a * z) * torch.cos(a * x + d * y)
    )
    v = -a * (
        torch.exp(a * y) * torch.sin(a * z + d * x) + torch.exp(a * x) * torch.cos(a * y + d * z)
    )
    w = -a * (
        torch.exp(a * z) * torch.sin(a * x + d * y) + torch.exp(a * y) * torch.cos(a * z + d * x)
    )
    p = (
        -0.5
        * a**2
        * (
            torch.exp(2 * a * x)
            + torch.exp(2 * a * y)
            + torch.exp(2 * a * z)
            + 2 * torch.sin(a * x + d * y) * torch.cos(a * z + d * x) * torch.exp(a * (y + z))
            + 2 * torch.sin(a * y + d * z) * torch.cos(a * x + d * y) * torch.exp(a * (z + x))
            + 2 * torch.sin(a * z + d * x) * torch.cos(a * y + d * z) * torch.exp(a * (x + y))
        )
        * decay**2
    )
    return torch.stack([u * decay, v * decay, w * decay, p], dim=-1)


def heat_kernel(
    coords: Tensor,
    *,
    alpha: float,
    velocity: Sequence[float] | None = None,
) -> Tensor:
    r"""Heat kernel (fundamental solution), optionally translated by a constant velocity.

    .. math::
        u(x, t) = (4\pi\alpha t)^{-d/2} \exp\!\Big(-\frac{|x - a t|^2}{4 \alpha t}\Big)

    With :math:`a = 0` it solves :math:`u_t = \alpha\Delta u`; with a constant velocity
    :math:`a` it solves the advection-diffusion equation :math:`u_t + a\cdot\nabla u =
    \alpha \Delta u`. Defined for :math:`t > 0`.

    Parameters
    ----------
    coords : Tensor
        ``[..., d + 1]``: ``(x[, y[, z]], t)``.
    alpha : float
        Diffusivity.
    velocity : sequence of float, optional
        Translation velocity :math:`a`. default: zero.

    Returns
    -------
    Tensor
        ``[..., 1]``.
    """
    x, t = coords[..., :-1], coords[..., -1]
    dim = x.shape[-1]
    if velocity is not None:
        x = x - torch.as_tensor(velocity, dtype=x.dtype, device=x.device) * t[..., None]
    u = (4 * math.pi * alpha * t) ** (-dim / 2) * torch.exp(-(x**2).sum(-1) / (4 * alpha * t))
    return u[..., None]


def cole_hopf_burgers(
    coords: Tensor, *, nu: float, k: float = math.pi, c0: float = 2.0, c1: float = 1.0
) -> Tensor:
    r"""Viscous Burgers solution from the Cole-Hopf transform of a heat-equation solution.

    With :math:`\varphi` solving :math:`\varphi_t = \nu \Delta\varphi`, :math:`\mathbf u =
    -2\nu \nabla\varphi / \varphi` solves the viscous Burgers equation
    :math:`\mathbf u_t + (\mathbf u\cdot\nabla)\mathbf u = \nu\Delta\mathbf u`. Here

    .. math::
        \varphi = c_0 + c_1 e^{-d\nu k^2 t} \prod_{i<d} \cos k x_i, \qquad c_0 > |c_1|.

    Parameters
    ----------
    coords : Tensor
        ``[..., d + 1]``: ``(x[, y[, z]], t)``, ``d`` = 1, 2 or 3.
    nu : float
        Viscosity.
    k, c0, c1 : float, optional
        Wavenumber and coefficients. default: :math:`\pi`, 2, 1.

    Returns
    -------
    Tensor
        ``[..., d]``: ``u`` in 1D, ``(U_x, U_y[, U_z])`` otherwise.
    """
    x, t = coords[..., :-1], coords[..., -1]
    dim = x.shape[-1]
    amplitude = c1 * torch.exp(-dim * nu * k**2 * t)
    cosines = torch.cos(k * x)
    sines = torch.sin(k * x)
    phi = c0 + amplitude * cosines.prod(-1)
    components = []
    for i in range(dim):
        others = torch.cat([cosines[..., :i], cosines[..., i + 1 :]], dim=-1).prod(-1)
        dphi = -k * amplitude * sines[..., i] * others
        components.append(-2 * nu * dphi / phi)
    return torch.stack(components, dim=-1)


def plane_waves(coords: Tensor, *, c: float, direction: Sequence[float] | None = None) -> Tensor:
    r"""d'Alembert solution: two waves travelling in opposite directions.

    .. math::
        u = e^{-4 (n\cdot x - ct)^2} + \sin\big(2 (n\cdot x + ct)\big)

    with :math:`n` a unit vector; solves :math:`u_{tt} = c^2 \Delta u`.

    Parameters
    ----------
    coords : Tensor
        ``[..., d + 1]``: ``(x[, y[, z]], t)``.
    c : float
        Wave speed.
    direction : sequence of float, optional
        Direction :math:`n` (normalized here). default: ``(1, 1, ...)`` normalized.

    Returns
    -------
    Tensor
        ``[..., 1]``.
    """
    x, t = coords[..., :-1], coords[..., -1]
    n = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)
    if direction is not None:
        n = torch.as_tensor(direction, dtype=x.dtype, device=x.device)
    s = (x * (n / n.norm())).sum(-1)
    return (torch.exp(-4 * (s - c * t) ** 2) + torch.sin(2 * (s + c * t)))[..., None]


def manufactured_poisson(coords: Tensor) -> Tensor:
    r"""A manufactured solution of :math:`-\Delta u = f` in 2 or 3 dimensions.

    .. math::
        u = \prod_{i<d} \sin\big((i + 1)\pi x_i\big) + x_0^2 x_1

    with :math:`f` given by :func:`manufactured_poisson_source`.

    Parameters
    ----------
    coords : Tensor
        ``[..., d]``.

    Returns
    -------
    Tensor
        ``[..., 1]``.
    """
    waves = [torch.sin((i + 1) * math.pi * coords[..., i]) for i in range(coords.shape[-1])]
    return (torch.stack(waves, -1).prod(-1) + coords[..., 0] ** 2 * coords[..., 1])[..., None]


def manufactured_poisson_source(x: Tensor) -> Tensor:
    r"""The source :math:`f = -\Delta u` of :func:`manufactured_poisson`.

    .. math::
        f = \pi^2 \sum_{i<d} (i + 1)^2 \prod_{i<d} \sin\big((i + 1)\pi x_i\big) - 2 x_1

    Parameters
    ----------
    x : Tensor
        ``[..., d]``.

    Returns
    -------
    Tensor
        ``[...]``.
    """
    dim = x.shape[-1]
    waves = torch.stack([torch.sin((i + 1) * math.pi * x[..., i]) for i in range(dim)], -1)
    factor = math.pi**2 * sum((i + 1) ** 2 for i in range(dim))
    return factor * waves.prod(-1) - 2 * x[..., 1]
