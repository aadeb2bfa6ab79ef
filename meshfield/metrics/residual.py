r"""The PDE residual R and MSE-R: data fidelity and physical consistency, always together.

Definitions
-----------
Let :math:`\hat u` be a prediction and :math:`u` the reference on the same mesh and steps,
:math:`\sigma_c` the normalization scale of field :math:`c` (the dataset normalizer's std, by
default the std of the target field over all steps and nodes), and :math:`r(\hat u)` the
residual of the governing PDE, in physical units, over its :math:`K` components.

* **MSE** (normalized): :math:`\mathrm{MSE} = \frac1C \sum_c \frac{1}{\sigma_c^2}
  \langle (\hat u_c - u_c)^2 \rangle`, dimensionless, comparable across fields.
* **R**: the mean squared residual :math:`R(\hat u) = \frac1K \sum_k \langle r_k(\hat u)^2
  \rangle` (physical units squared; :func:`residual_r` gives it per component and step).
* **R_ref**: the scale that says what "small" means for R: the residual of the reference data
  :math:`R(u)`, computed with the *same operator on the same mesh* (so discretization error
  cancels out of the ratio), or, where no reference exists (test-time refinement on a new
  mesh), a constant the caller states.
* **MSE-R**:

  .. math::
      \mathrm{MSE\text{-}R} = \mathrm{MSE} + \lambda \, \frac{R(\hat u)}{R_\text{ref}},
      \qquad \lambda = 1 \text{ by default.}

  A prediction as accurate as the data and as physical as the reference scores about
  :math:`0 + \lambda`; a score below :math:`\lambda` means a residual smaller than the
  reference's.

The exact MSE-R of HMT-PF is not public; this is meshfield's explicit definition. The metric is
returned as :class:`MSER`, which always carries MSE, R, R_ref and the score together, so one is
never reported without the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from meshfield.metrics.fields import Per, _check, _node_sum, _reduce_mean

__all__ = [
    "MSER",
    "interior_nodes",
    "mse_r",
    "mse_r_on_mesh",
    "normalized_mse",
    "residual_r",
    "residual_scores",
]


def residual_r(residual: Tensor, *, per: Per = "total", weight: Tensor | None = None) -> Tensor:
    r"""Mean squared PDE residual :math:`R = \langle r^2 \rangle`.

    Parameters
    ----------
    residual : Tensor
        ``[..., N, K]`` residual in physical units (from
        :meth:`~meshfield.physics.PDE.mesh_residual` ``[T, N, K]`` or
        :meth:`~meshfield.physics.PDE.residual` ``[Q, K]``).
    per : {"total", "field", "step", "step_field"}, optional
        What to keep, with components in place of fields: ``"total"`` a scalar (mean over
        components), ``"field"`` one value per component ``[K]``, ``"step"`` ``[...]``,
        ``"step_field"`` ``[..., K]``. default: ``"total"``.
    weight : Tensor, optional
        ``[N]`` node mask or weights (e.g. exclude boundary nodes). default: uniform.

    Returns
    -------
    Tensor
        As selected by ``per``.

    Examples
    --------
    >>> import torch
    >>> residual_r(torch.tensor([[1.0, 2.0], [3.0, 0.0]]), per="field")
    tensor([5., 2.])
    """
    weight = _check(residual, residual, per, weight)
    total, norm = _node_sum(residual**2, weight)
    return _reduce_mean(total / norm, per)


def interior_nodes(mesh: Any) -> Tensor | None:
    """``[N]`` mask of the nodes where R is averaged: boundary tag 0, or ``None`` (all nodes).

    The boundary holds boundary conditions, not the PDE, so every score of R leaves it out;
    the same rule as :class:`~meshfield.physics.MeshOperators` (``interior``).
    """
    boundary = getattr(mesh, "boundary", None)
    if boundary is None:
        return None
    boundary = torch.as_tensor(boundary)
    return ~boundary if boundary.dtype == torch.bool else boundary == 0


def residual_scores(
    residual: Tensor, components: Sequence[str], *, interior: Tensor | None = None
) -> dict[str, float]:
    r"""The residual as every report gives it: ``R`` and ``R_<component>``.

    ``R`` is :func:`residual_r` over the interior nodes and all steps, the mean over
    components; ``R_<component>`` the same per component. ``meshfield.generate``
    (``result.metrics``), the command line and :func:`mse_r_on_mesh` (``interior_only=True``,
    as ``meshfield evaluate`` calls it) report this one number.

    Parameters
    ----------
    residual : Tensor
        ``[..., N, K]`` residual in physical units.
    components : sequence of str
        The ``K`` component names.
    interior : Tensor, optional
        ``[N]`` boolean mask (:func:`interior_nodes`). default: all nodes.

    Examples
    --------
    >>> r = torch.tensor([[[1.0, 0.0], [3.0, 2.0]]])  # 1 step, 2 nodes, 2 components
    >>> residual_scores(r, ["a", "b"], interior=torch.tensor([False, True]))
    {'R': 6.5, 'R_a': 9.0, 'R_b': 4.0}
    """
    if residual.shape[-1] != len(components):
        msg = f"Expected {residual.shape[-1]} component names (got {list(components)})"
        raise ValueError(msg)
    weight = None if interior is None else interior.to(residual.device, torch.float64)
    per = residual_r(residual.to(torch.float64), per="field", weight=weight)
    scores = {"R": float(per.mean())}
    scores.update({f"R_{name}": float(v) for name, v in zip(components, per.tolist())})
    return scores


def normalized_mse(
    pred: Tensor,
    target: Tensor,
    *,
    scale: Tensor | Sequence[float] | None = None,
    weight: Tensor | None = None,
    eps: float = 1e-12,
) -> Tensor:
    r"""MSE of fields divided by their normalization scale, averaged over fields.

    .. math::
        \mathrm{MSE} = \frac1C \sum_c \frac{\langle(\hat u_c - u_c)^2\rangle}{\sigma_c^2 + \epsilon}

    Parameters
    ----------
    pred, target : Tensor
        ``[..., N, C]`` in physical units.
    scale : Tensor or sequence of float, optional
        :math:`\sigma_c` per field ``[C]`` (the dataset normalizer's std). default: the std of
        ``target`` per field over all steps and nodes.
    weight : Tensor, optional
        ``[N]`` node mask or weights. default: uniform.
    eps : float, optional
        Guards constant fields. default: 1e-12.

    Returns
    -------
    Tensor
        Scalar.
    """
    weight = _check(pred, target, "field", weight)
    if scale is None:
        scale = target.reshape(-1, target.shape[-1]).std(dim=0, correction=0)
    scale = torch.as_tensor(scale, dtype=pred.dtype, device=pred.device)
    if scale.shape != (pred.shape[-1],):
        msg = f"Expected 'scale' with shape [{pred.shape[-1]}] (got {tuple(scale.shape)})"
        raise ValueError(msg)
    total, norm = _node_sum((pred - target) ** 2, weight)
    per_field = _reduce_mean(total / norm, "field")
    return (per_field / (scale**2 + eps)).mean()


@dataclass(frozen=True)
class MSER:
    r"""MSE-R: normalized MSE and PDE residual R, reported together.

    Attributes
    ----------
    mse : float
        MSE of the normalized fields (dimensionless).
    r : float
        Mean squared residual of the prediction (physical units squared).
    r_ref : float
        The residual scale: of the reference data on the same mesh, or a stated constant.
    score : float
        :math:`\mathrm{MSE} + \lambda R / R_\text{ref}`.
    lam : float
        :math:`\lambda`.
    r_ref_source : str
        ``"reference"`` (computed from the reference data) or ``"constant"`` (given).
    """

    mse: float
    r: float
    r_ref: float
    score: float
    lam: float = 1.0
    r_ref_source: str = "reference"

    @property
    def r_ratio(self) -> float:
        r""":math:`R / R_\text{ref}`."""
        return self.r / self.r_ref

    def __str__(self) -> str:
        return (
            f"MSE-R {self.score:.4g} = MSE {self.mse:.4g} + {self.lam:g} x R/R_ref "
            f"(R {self.r:.4g}, R_ref {self.r_ref:.4g} [{self.r_ref_source}], "
            f"R/R_ref {self.r_ratio:.4g})"
        )

    def as_dict(self) -> dict[str, float | str]:
        """Every number, under the keys of every report (``mse``, ``R``, ``R_ref``, ``mse_r``)."""
        return {
            "mse": self.mse,
            "R": self.r,
            "R_ref": self.r_ref,
            "R_ratio": self.r_ratio,
            "mse_r": self.score,
            "lambda": self.lam,
            "R_ref_source": self.r_ref_source,
        }


def mse_r(
    pred: Tensor,
    target: Tensor,
    *,
    residual: Tensor,
    reference_residual: Tensor | None = None,
    r_ref: float | None = None,
    scale: Tensor | Sequence[float] | None = None,
    lam: float = 1.0,
    weight: Tensor | None = None,
) -> MSER:
    r"""MSE-R of a prediction (definitions in the module notes).

    Parameters
    ----------
    pred, target : Tensor
        ``[..., N, C]`` fields in physical units.
    residual : Tensor
        ``[..., K]`` PDE residual of ``pred`` (physical units).
    reference_residual : Tensor, optional
        Residual of ``target`` with the same operator on the same mesh: its mean square is
        :math:`R_\text{ref}`. Give this or ``r_ref``.
    r_ref : float, optional
        A stated constant :math:`R_\text{ref}` when no reference exists.
    scale : Tensor or sequence of float, optional
        Normalization std per field (:func:`normalized_mse`). default: the target's std.
    lam : float, optional
        :math:`\lambda`. default: 1.0.
    weight : Tensor, optional
        ``[N]`` node mask or weights for the MSE. default: uniform.

    Returns
    -------
    MSER

    Examples
    --------
    >>> import torch
    >>> target = torch.tensor([[[0.0], [2.0]]])
    >>> m = mse_r(target + 0.1, target, residual=torch.full((2, 1), 0.2), r_ref=0.04)
    >>> round(m.mse, 4), round(m.r, 4), round(m.score, 4)
    (0.01, 0.04, 1.01)
    """
    if (reference_residual is None) == (r_ref is None):
        msg = (
            "mse_r needs exactly one residual scale: 'reference_residual' (the reference data's "
            "residual on the same mesh) or a stated constant 'r_ref'"
        )
        raise ValueError(msg)
    if reference_residual is not None:
        reference = float(residual_r(reference_residual.reshape(-1, reference_residual.shape[-1])))
        source = "reference"
    else:
        reference = float(r_ref)
        source = "constant"
    if not reference > 0:
        msg = f"Expected a positive residual scale R_ref (got {reference})"
        raise ValueError(msg)
    error = float(normalized_mse(pred, target, scale=scale, weight=weight))
    r = float(residual_r(residual.reshape(-1, residual.shape[-1])))
    return MSER(error, r, reference, error + lam * r / reference, lam, source)


def mse_r_on_mesh(
    pred: Tensor,
    target: Tensor,
    pde: Any,
    mesh: Any,
    *,
    times: Tensor | None = None,
    cond: Mapping[str, Any] | None = None,
    field_names: Sequence[str] | None = None,
    scale: Tensor | Sequence[float] | None = None,
    lam: float = 1.0,
    interior_only: bool = False,
) -> MSER:
    r"""MSE-R with both residuals computed by the same discrete operator on the same mesh.

    Parameters
    ----------
    pred, target : Tensor
        ``[T, N, C]`` fields in physical units.
    pde : PDE
        The governing equations (:mod:`meshfield.physics`).
    mesh : MeshGraph or MeshOperators
        The mesh (build :class:`~meshfield.physics.MeshOperators` once to reuse it).
    times, cond, field_names : optional
        As in :meth:`~meshfield.physics.PDE.mesh_residual`.
    scale : Tensor or sequence of float, optional
        Normalization std per field. default: the target's std.
    lam : float, optional
        :math:`\lambda`. default: 1.0.
    interior_only : bool, optional
        Average the residuals over interior nodes only (boundary conditions, not the PDE,
        hold on the boundary). default: ``False``.

    Returns
    -------
    MSER
    """
    from meshfield.physics import MeshOperators

    operators = mesh if isinstance(mesh, MeshOperators) else MeshOperators.from_data(mesh)
    if field_names is None and getattr(mesh, "field_names", None) is not None:
        field_names = list(mesh.field_names)
    if times is None:
        times = getattr(mesh, "times", None)
    stored, names = getattr(mesh, "cond", None), getattr(mesh, "cond_names", None)
    if stored is not None and names is not None:
        cond = {**dict(zip(names, stored.tolist(), strict=True)), **dict(cond or {})}
    kwargs = {"times": times, "cond": cond, "field_names": field_names}
    residual = pde.mesh_residual(operators, pred, **kwargs)
    reference = pde.mesh_residual(operators, target, **kwargs)
    if interior_only:
        residual = residual[..., operators.interior, :]
        reference = reference[..., operators.interior, :]
    return mse_r(
        pred.to(residual.dtype),
        target.to(residual.dtype),
        residual=residual,
        reference_residual=reference,
        scale=scale,
        lam=lam,
    )
