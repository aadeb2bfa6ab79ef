r"""Incompressible Navier-Stokes equations in 2D and 3D.

.. math::
    \nabla\cdot\mathbf u = 0, \qquad
    \partial_t \mathbf u + (\mathbf u\cdot\nabla)\mathbf u + \frac{1}{\rho}\nabla p
    - \nu \Delta \mathbf u = 0

References
----------
G. I. Taylor and A. E. Green, "Mechanism of the production of small eddies from large ones",
Proc. R. Soc. Lond. A 158 (1937) 499-521.
L. I. G. Kovasznay, "Laminar flow behind a two-dimensional grid", Proc. Camb. Phil. Soc. 44
(1948) 58-62.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from meshfield.physics.pde import PDE, Condition, Derivatives, Equations

__all__ = ["NavierStokes"]

_AXES = ("x", "y", "z")


@dataclass(repr=False)
class NavierStokes(PDE):
    r"""Incompressible Navier-Stokes: continuity and momentum, in physical units.

    .. math::
        r_{\text{continuity}} = \sum_j \partial_j u_j, \qquad
        r_{\text{momentum}_i} = \partial_t u_i + \sum_j u_j \partial_j u_i
        + \frac{1}{\rho}\partial_i p - \nu \Delta u_i

    With ``viscosity="Re"`` the equations are nondimensional with :math:`U = L = 1`:
    :math:`\nu = 1/Re` and :math:`\rho = 1` (``p`` is the pressure scaled by
    :math:`\rho U^2`). With ``viscosity="nu"`` they read the kinematic viscosity ``nu`` and the
    density ``rho``; with ``rho = 1`` (the default) ``p`` is the kinematic pressure, as in
    OpenFOAM's incompressible solvers.

    Parameters
    ----------
    dim : int, optional
        2 or 3. default: 2.
    Re : float, optional
        Reynolds number (``viscosity="Re"``). default: none (a required condition).
    nu : float, optional
        Kinematic viscosity (``viscosity="nu"``). default: none (a required condition).
    rho : float, optional
        Density (``viscosity="nu"``). default: 1.0.
    viscosity : {"Re", "nu"}, optional
        Which condition sets the viscosity. default: ``"Re"``.
    steady : bool, optional
        Drop :math:`\partial_t \mathbf u` (steady flow; coordinates without time). default:
        ``False``.
    velocity : sequence of str, optional
        Names of the velocity fields. default: ``("U_x", "U_y"[, "U_z"])``.
    pressure : str, optional
        Name of the pressure field. default: ``"p"``.

    Shapes
    ------
    fields ``(*velocity, pressure)``; components ``("continuity", "momentum_x", "momentum_y"
    [, "momentum_z"])``.

    Examples
    --------
    >>> import torch
    >>> from meshfield.physics import NavierStokes
    >>> from meshfield.physics.analytic import taylor_green
    >>> ns = NavierStokes(Re=100.0)
    >>> xyt = torch.rand(64, 3, dtype=torch.float64)
    >>> r = ns.residual(lambda q: taylor_green(q, nu=0.01), xyt, create_graph=False)
    >>> r.shape, bool(r.abs().max() < 1e-12)
    (torch.Size([64, 3]), True)
    """

    dim: int = 2
    Re: float | None = None
    nu: float | None = None
    rho: float = 1.0
    viscosity: Literal["Re", "nu"] = "Re"
    steady: bool = False
    velocity: Sequence[str] | None = None
    pressure: str = "p"

    def __post_init__(self) -> None:
        if self.dim not in (2, 3):
            msg = f"Expected NavierStokes 'dim' 2 or 3 (got {self.dim})"
            raise ValueError(msg)
        if self.viscosity not in ("Re", "nu"):
            msg = f"Expected 'viscosity' to be 'Re' or 'nu' (got {self.viscosity!r})"
            raise ValueError(msg)
        if self.velocity is None:
            self.velocity = tuple(f"U_{a}" for a in _AXES[: self.dim])
        if len(self.velocity) != self.dim:
            msg = f"Expected {self.dim} velocity names (got {list(self.velocity)})"
            raise ValueError(msg)
        self.velocity = tuple(self.velocity)

    @property
    def fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*self.velocity, self.pressure)

    @property
    def components(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("continuity", *(f"momentum_{a}" for a in _AXES[: self.dim]))

    @property
    def conditions(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("Re",) if self.viscosity == "Re" else ("nu", "rho")

    @property
    def time_dependent(self) -> bool:  # type: ignore[override]
        return not self.steady

    def equations(self, d: Derivatives, cond: Mapping[str, Condition]) -> Equations:
        if self.viscosity == "Re":
            nu, rho = 1.0 / cond["Re"], 1.0
        else:
            nu, rho = cond["nu"], cond["rho"]
        velocity = d.vector(self.velocity)
        grad_p = d.grad(self.pressure)
        out: dict[str, tuple] = {
            "continuity": tuple(d.partial(name, i) for i, name in enumerate(self.velocity))
        }
        for i, name in enumerate(self.velocity):
            convection = (velocity * d.grad(name)).sum(-1)
            terms = (convection, grad_p[..., i] / rho, -nu * d.laplacian(name))
            if not self.steady:
                terms = (d.dt(name), *terms)
            out[f"momentum_{_AXES[i]}"] = terms
        return out
