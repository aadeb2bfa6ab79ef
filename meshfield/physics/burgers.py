r"""Viscous Burgers equation, scalar in 1D and vector in 2D/3D."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from meshfield.physics.pde import PDE, Condition, Derivatives, Equations

__all__ = ["Burgers"]

_AXES = ("x", "y", "z")


@dataclass(repr=False)
class Burgers(PDE):
    r"""Viscous Burgers equation.

    .. math::
        r_i = \partial_t u_i + \sum_j u_j \partial_j u_i - \nu \Delta u_i

    In 1D this is :math:`u_t + u u_x - \nu u_{xx}` with the single component ``"burgers"``;
    in 2D and 3D the components are ``"burgers_x"``, ``"burgers_y"`` (, ``"burgers_z"``).

    Parameters
    ----------
    dim : int, optional
        1, 2 or 3. default: 1.
    nu : float, optional
        Viscosity. default: none (a required condition).
    velocity : sequence of str, optional
        Field names. default: ``("u",)`` in 1D, ``("U_x", "U_y"[, "U_z"])`` otherwise.

    References
    ----------
    J. D. Cole, "On a quasi-linear parabolic equation occurring in aerodynamics", Quart. Appl.
    Math. 9 (1951) 225-236. E. Hopf, "The partial differential equation u_t + u u_x = mu u_xx",
    Comm. Pure Appl. Math. 3 (1950) 201-230.
    """

    dim: int = 1
    nu: float | None = None
    velocity: Sequence[str] | None = None
    conditions = ("nu",)

    def __post_init__(self) -> None:
        if self.dim not in (1, 2, 3):
            msg = f"Expected Burgers 'dim' 1, 2 or 3 (got {self.dim})"
            raise ValueError(msg)
        if self.velocity is None:
            self.velocity = ("u",) if self.dim == 1 else tuple(f"U_{a}" for a in _AXES[: self.dim])
        if len(self.velocity) != self.dim:
            msg = f"Expected {self.dim} field names (got {list(self.velocity)})"
            raise ValueError(msg)
        self.velocity = tuple(self.velocity)

    @property
    def fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.velocity

    @property
    def components(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.dim == 1:
            return ("burgers",)
        return tuple(f"burgers_{a}" for a in _AXES[: self.dim])

    def equations(self, d: Derivatives, cond: Mapping[str, Condition]) -> Equations:
        velocity = d.vector(self.velocity)
        out = {}
        for name, component in zip(self.velocity, self.components, strict=True):
            convection = (velocity * d.grad(name)).sum(-1)
            out[component] = (d.dt(name), convection, -cond["nu"] * d.laplacian(name))
        return out
