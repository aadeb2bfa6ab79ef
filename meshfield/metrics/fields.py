r"""Field errors: MSE, RMSE, relative L2 and VRMSE, per field and per step.

Every function takes a prediction and a target of the same shape ``[..., N, C]``: leading axes
are steps (frames, samples), then nodes, then fields (channels). ``per`` chooses what is kept:

==================  ===============  =====================================================
``per``             result shape     averaged (or summed, for norms) over
==================  ===============  =====================================================
``"total"``         ``[]``           steps, nodes and fields
``"field"``         ``[C]``          steps and nodes
``"step"``          ``[...]``        nodes and fields
``"step_field"``    ``[..., C]``     nodes
==================  ===============  =====================================================

``weight`` (``[N]``, boolean mask or non-negative weights such as node areas) restricts or
weights the average over nodes.

References
----------
R. Ohana et al., "The Well: a Large-Scale Collection of Diverse Physics Simulations for
Machine Learning", NeurIPS 2024 Datasets and Benchmarks (VRMSE).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["mse", "relative_l2", "rmse", "vrmse"]

Per = Literal["total", "field", "step", "step_field"]
_PER = ("total", "field", "step", "step_field")


def _check(pred: Tensor, target: Tensor, per: str, weight: Tensor | None) -> Tensor | None:
    if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
        msg = f"Expected 'pred' and 'target' tensors (got {type(pred).__name__}, {type(target).__name__})"
        raise TypeError(msg)
    if pred.shape != target.shape or pred.dim() < 2:
        msg = (
            f"Expected 'pred' and 'target' with the same shape [..., N, C] "
            f"(got {tuple(pred.shape)} and {tuple(target.shape)})"
        )
        raise ValueError(msg)
    if per not in _PER:
        msg = f"Expected 'per' in {_PER} (got {per!r})"
        raise ValueError(msg)
    if weight is None:
        return None
    weight = torch.as_tensor(weight, device=pred.device)
    if weight.shape != (pred.shape[-2],):
        msg = f"Expected 'weight' with shape [{pred.shape[-2]}] (got {tuple(weight.shape)})"
        raise ValueError(msg)
    weight = weight.to(pred.dtype)
    if (weight < 0).any() or weight.sum() <= 0:
        msg = "Expected non-negative 'weight' with a positive sum"
        raise ValueError(msg)
    return weight


def _node_sum(values: Tensor, weight: Tensor | None) -> tuple[Tensor, Tensor]:
    """Weighted sum over nodes ``[..., N, C] -> [..., C]`` and the total weight."""
    if weight is None:
        return values.sum(-2), torch.tensor(float(values.shape[-2]), dtype=values.dtype)
    return (values * weight[:, None]).sum(-2), weight.sum()


def _reduce_mean(per_step_field: Tensor, per: str) -> Tensor:
    """Average ``[..., C]`` over what ``per`` does not keep."""
    lead = tuple(range(per_step_field.dim() - 1))
    if per == "step_field":
        return per_step_field
    if per == "step":
        return per_step_field.mean(-1)
    if per == "field":
        return per_step_field.mean(lead) if lead else per_step_field
    return per_step_field.mean()


def mse(
    pred: Tensor, target: Tensor, *, per: Per = "field", weight: Tensor | None = None
) -> Tensor:
    r"""Mean squared error.

    .. math::
        \mathrm{MSE} = \frac{\sum_i w_i (\hat u_i - u_i)^2}{\sum_i w_i}

    averaged over the steps and fields that ``per`` does not keep.

    Parameters
    ----------
    pred, target : Tensor
        ``[..., N, C]``.
    per : {"field", "total", "step", "step_field"}, optional
        What to keep (module table). default: ``"field"``.
    weight : Tensor, optional
        ``[N]`` node mask or weights. default: uniform.

    Returns
    -------
    Tensor
        Shape per the module table.

    Examples
    --------
    >>> import torch
    >>> pred = torch.tensor([[[1.0, 0.0], [3.0, 2.0]]])  # [T=1, N=2, C=2]
    >>> mse(pred, torch.zeros_like(pred))
    tensor([5., 2.])
    """
    weight = _check(pred, target, per, weight)
    total, norm = _node_sum((pred - target) ** 2, weight)
    return _reduce_mean(total / norm, per)


def rmse(
    pred: Tensor, target: Tensor, *, per: Per = "field", weight: Tensor | None = None
) -> Tensor:
    r"""Root mean squared error, :math:`\sqrt{\mathrm{MSE}}` of :func:`mse` with the same ``per``.

    Parameters
    ----------
    pred, target : Tensor
        ``[..., N, C]``.
    per : {"field", "total", "step", "step_field"}, optional
        What to keep (module table). default: ``"field"``.
    weight : Tensor, optional
        ``[N]`` node mask or weights. default: uniform.

    Returns
    -------
    Tensor
        Shape per the module table.
    """
    return mse(pred, target, per=per, weight=weight).sqrt()


def relative_l2(
    pred: Tensor,
    target: Tensor,
    *,
    per: Per = "step_field",
    weight: Tensor | None = None,
    eps: float = 1e-12,
) -> Tensor:
    r"""Relative L2 error: the norm of the error over the norm of the target.

    .. math::
        \frac{\| \hat u - u \|_2}{\| u \|_2 + \epsilon}, \qquad
        \|v\|_2^2 = \sum_i w_i v_i^2

    The norms are taken over the nodes and everything ``per`` does not keep (so ``"field"``
    is one ratio per field over all steps, not a mean of per-step ratios).

    Parameters
    ----------
    pred, target : Tensor
        ``[..., N, C]``.
    per : {"step_field", "field", "step", "total"}, optional
        What to keep (module table). default: ``"step_field"``.
    weight : Tensor, optional
        ``[N]`` node mask or weights. default: uniform.
    eps : float, optional
        Added to the target norm. default: 1e-12.

    Returns
    -------
    Tensor
        Shape per the module table.

    Examples
    --------
    >>> import torch
    >>> target = torch.tensor([[[3.0], [4.0]]])
    >>> relative_l2(target * 1.1, target, per="total")
    tensor(0.1000)
    """
    weight = _check(pred, target, per, weight)
    error, _ = _node_sum((pred - target) ** 2, weight)
    norm, _ = _node_sum(target**2, weight)
    lead = tuple(range(error.dim() - 1))
    if per == "step":
        error, norm = error.sum(-1), norm.sum(-1)
    elif per == "field" and lead:
        error, norm = error.sum(lead), norm.sum(lead)
    elif per == "total":
        error, norm = error.sum(), norm.sum()
    return error.sqrt() / (norm.sqrt() + eps)


def vrmse(pred: Tensor, target: Tensor, *, per: Per = "field", eps: float = 1e-7) -> Tensor:
    r"""Variance-scaled RMSE, as defined by The Well.

    .. math::
        \mathrm{VRMSE} = \sqrt{\frac{\langle (\hat u - u)^2 \rangle}
        {\langle (u - \langle u \rangle)^2 \rangle + \epsilon}}

    with :math:`\langle\cdot\rangle` the mean over the nodes of one step and one field, the
    variance unbiased (``torch.var`` with one degree of freedom removed) as in The Well's
    reference code, then averaged over what ``per`` does not keep. A constant prediction
    equal to the target's mean scores about 1; a perfect one 0.

    Parameters
    ----------
    pred, target : Tensor
        ``[..., N, C]``.
    per : {"field", "total", "step", "step_field"}, optional
        What to keep (module table). default: ``"field"``.
    eps : float, optional
        Added to the variance. default: 1e-7, as in The Well.

    Returns
    -------
    Tensor
        Shape per the module table.
    """
    _check(pred, target, per, None)
    error = ((pred - target) ** 2).mean(-2)
    variance = target.var(dim=-2, correction=1)
    return _reduce_mean((error / (variance + eps)).sqrt(), per)
