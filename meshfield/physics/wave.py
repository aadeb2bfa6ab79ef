r"""Wave equation :math:`\partial_{tt} u - c^2 \Delta u = 0`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from meshfield.physics.pde import PDE, Condition, Derivatives, Equations

__all__ = ["Wave"]


@dataclass(repr=False)
class Wave(PDE):
    r"""Linear wave equation in 1, 2 or 3 dimensions.

    .. math::
        r_{\text{wave}} = \partial_{tt} u - c^2 \Delta u

    Parameters
    ----------
    dim : int, optional
        Number of spatial dimensions. default: 2.
    c : float, optional
        Wave speed. default: none (a required condition).
    field : str, optional
        Name of the field. default: ``"u"``.

    Shapes
    ------
    fields ``(field,)``; components ``("wave",)``; conditions ``("c",)``.

    References
    ----------
    J. le Rond d'Alembert, "Recherches sur la courbe que forme une corde tendue mise en
    vibration", 1747 (the solution :math:`g(n\cdot x - ct) + h(n\cdot x + ct)` used in the
    tests, :func:`meshfield.physics.analytic.plane_waves`).
    """

    dim: int = 2
    c: float | None = None
    field: str = "u"
    conditions = ("c",)
    components = ("wave",)

    @property
    def fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.field,)

    def equations(self, d: Derivatives, cond: Mapping[str, Condition]) -> Equations:
        return {"wave": (d.d2t(self.field), -(cond["c"] ** 2) * d.laplacian(self.field))}
