r"""Poisson equation :math:`-\Delta u = f` (steady)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor

from meshfield.physics.pde import PDE, Condition, Derivatives, Equations

__all__ = ["Poisson"]


@dataclass(repr=False)
class Poisson(PDE):
    r"""Poisson equation with a source given as a function of position.

    .. math::
        r_{\text{poisson}} = -\Delta u - f(x)

    Parameters
    ----------
    source : callable, optional
        :math:`f`: spatial coordinates ``[..., d] -> [...]``. default: none (Laplace's
        equation).
    dim : int, optional
        Number of spatial dimensions. default: 2.
    field : str, optional
        Name of the field. default: ``"u"``.

    Shapes
    ------
    fields ``(field,)``; components ``("poisson",)``; no conditions; steady (coordinates
    ``(x, y[, z])``).
    """

    source: Callable[[Tensor], Tensor] | None = None
    dim: int = 2
    field: str = "u"
    components = ("poisson",)
    time_dependent = False

    @property
    def fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.field,)

    def equations(self, d: Derivatives, cond: Mapping[str, Condition]) -> Equations:
        terms = (-d.laplacian(self.field),)
        if self.source is not None:
            terms = (*terms, -self.source(d.x()))
        return {"poisson": terms}
