r"""Advection-diffusion of a scalar by a given velocity."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from meshfield.physics.pde import PDE, Condition, Derivatives, Equations

__all__ = ["AdvectionDiffusion"]


@dataclass(repr=False)
class AdvectionDiffusion(PDE):
    r"""Advection-diffusion of a scalar :math:`c` by a velocity :math:`\mathbf a`.

    .. math::
        r_{\text{advection\_diffusion}} = \partial_t c + \mathbf a \cdot \nabla c
        - \kappa \Delta c

    (the advective form; it equals the conservative form when :math:`\nabla\cdot\mathbf a = 0`).

    Parameters
    ----------
    velocity : sequence of float, sequence of str or callable
        The advecting velocity: a constant vector (``(1.0, 0.5)``), the names of velocity
        fields read with the scalar (``("U_x", "U_y")``, e.g. a flow solution), or a callable
        ``x [..., d] -> [..., d]`` of the spatial coordinates.
    dim : int, optional
        Number of spatial dimensions. default: ``len(velocity)`` for a vector or names, else 2.
    kappa : float, optional
        Diffusivity. default: none (a required condition).
    field : str, optional
        Name of the scalar. default: ``"c"``.

    Shapes
    ------
    fields ``(field,)`` or ``(field, *velocity names)``; components
    ``("advection_diffusion",)``; conditions ``("kappa",)``.
    """

    velocity: Sequence[float] | Sequence[str] | Callable[[Tensor], Tensor] = (1.0, 0.0)
    dim: int | None = None
    kappa: float | None = None
    field: str = "c"
    conditions = ("kappa",)
    components = ("advection_diffusion",)

    def __post_init__(self) -> None:
        if callable(self.velocity):
            self.dim = 2 if self.dim is None else self.dim
            return
        self.velocity = tuple(self.velocity)
        if self.dim is None:
            self.dim = len(self.velocity)
        if len(self.velocity) != self.dim:
            msg = f"Expected a velocity with {self.dim} components (got {list(self.velocity)})"
            raise ValueError(msg)

    @property
    def _named(self) -> bool:
        return not callable(self.velocity) and all(isinstance(v, str) for v in self.velocity)

    @property
    def fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.field, *self.velocity) if self._named else (self.field,)

    def equations(self, d: Derivatives, cond: Mapping[str, Condition]) -> Equations:
        grad = d.grad(self.field)
        if self._named:
            velocity = d.vector(self.velocity)
        elif callable(self.velocity):
            velocity = self.velocity(d.x())
        else:
            velocity = torch.as_tensor(self.velocity, dtype=grad.dtype, device=grad.device)
        return {
            "advection_diffusion": (
                d.dt(self.field),
                (velocity * grad).sum(-1),
                -cond["kappa"] * d.laplacian(self.field),
            )
        }
