r"""Heat (diffusion) equation :math:`\partial_t u - \alpha \Delta u = 0`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from meshfield.physics.pde import PDE, Condition, Derivatives, Equations

__all__ = ["Heat"]


@dataclass(repr=False)
class Heat(PDE):
    r"""Heat equation (linear diffusion) in 1, 2 or 3 dimensions.

    .. math::
        r_{\text{heat}} = \partial_t u - \alpha \Delta u

    Parameters
    ----------
    dim : int, optional
        Number of spatial dimensions. default: 2.
    alpha : float, optional
        Diffusivity. default: none (a required condition).
    field : str, optional
        Name of the diffusing field. default: ``"T"``.

    Shapes
    ------
    fields ``(field,)``; components ``("heat",)``; conditions ``("alpha",)``.

    References
    ----------
    The verification solution is the heat kernel
    :math:`(4\pi\alpha t)^{-d/2} \exp(-|x|^2 / 4\alpha t)`
    (:func:`meshfield.physics.analytic.heat_kernel`).
    """

    dim: int = 2
    alpha: float | None = None
    field: str = "T"
    conditions = ("alpha",)
    components = ("heat",)

    @property
    def fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.field,)

    def equations(self, d: Derivatives, cond: Mapping[str, Condition]) -> Equations:
        return {"heat": (d.dt(self.field), -cond["alpha"] * d.laplacian(self.field))}
