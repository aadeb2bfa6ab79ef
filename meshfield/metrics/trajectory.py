"""Per-step errors of a predicted trajectory against its reference, per field."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from meshfield.metrics.fields import mse, relative_l2, vrmse
from meshfield.metrics.image import psnr, ssim

__all__ = ["DIMENSIONLESS", "finite_mean", "finite_values", "rollout_metrics"]

#: metrics without units: averaged over the fields into ``"all"``
DIMENSIONLESS = ("rel_l2", "mse_normalized", "rmse_normalized", "vrmse", "ssim", "psnr")


def _as_images(values: Tensor, grid_shape: Sequence[int]) -> Tensor:
    """``[S, N, C]`` node values of a grid to ``[S, C, *reversed(grid_shape)]`` images."""
    steps, _, channels = values.shape
    # grid nodes run with the first axis fastest (meshfield.io.grid): reversed shape, C order
    images = values.reshape(steps, *tuple(int(n) for n in grid_shape)[::-1], channels)
    return images.movedim(-1, 1)


def rollout_metrics(
    prediction: Tensor,
    target: Tensor,
    *,
    field_names: Sequence[str],
    field_std: Sequence[float] | Tensor | None = None,
    grid_shape: Sequence[int] | None = None,
) -> dict[str, dict[str, list[float | None]]]:
    r"""Per-step errors of a predicted trajectory, per field.

    For step :math:`s` and field :math:`c` over the :math:`N` nodes:

    - ``rel_l2``: :math:`\lVert \hat u - u \rVert_2 / \lVert u \rVert_2` (the denominator is
      at least ``1e-12``);
    - ``mse_physical``, ``rmse_physical``: :math:`\frac{1}{N}\sum (\hat u - u)^2` and its
      root, physical units;
    - ``mse_normalized``, ``rmse_normalized``: the same of :math:`(\hat u - u)/\sigma_c`
      (the units of the ``mse`` of every score of :mod:`meshfield.metrics.report`);
    - ``vrmse``: RMSE over the standard deviation of the reference frame (The Well);
    - ``ssim``, ``psnr`` (only with ``grid_shape``): :func:`ssim` and :func:`psnr` of the
      field as an image, data range that of the reference frame.

    Dimensionless metrics also get ``"all"``, their mean over the fields.

    Parameters
    ----------
    prediction, target : torch.Tensor
        ``[S, N, C]`` physical frames.
    field_names : sequence of str
        The ``C`` channel names.
    field_std : sequence of float or torch.Tensor, optional
        :math:`\sigma_c` per channel (the training statistics). default: 1.
    grid_shape : sequence of int, optional
        Point counts per axis of a grid graph (``data.grid_shape``).

    Returns
    -------
    dict
        metric -> field (or ``"all"``) -> ``S`` values (``None`` where not finite, e.g. the
        PSNR of an exact prediction).

    Shapes
    ------
    - **prediction**, **target**: ``[S, N, C]``
    """
    if prediction.shape != target.shape or prediction.dim() != 3:
        msg = (
            "Expected prediction and target of one shape [S, N, C] "
            f"(got {list(prediction.shape)} and {list(target.shape)})"
        )
        raise ValueError(msg)
    channels = prediction.size(-1)
    if len(field_names) != channels:
        msg = f"Expected {channels} field names (got {list(field_names)})"
        raise ValueError(msg)
    pred = prediction.detach().to(torch.float64).cpu()
    true = target.detach().to(torch.float64).cpu()
    std = torch.ones(channels, dtype=torch.float64)
    if field_std is not None:
        std = torch.as_tensor(field_std, dtype=torch.float64).reshape(channels).cpu()
        std = torch.where(std > 0, std, torch.ones_like(std))
    per_step: dict[str, Tensor] = {}
    per_step["rel_l2"] = relative_l2(pred, true, per="step_field")
    per_step["mse_physical"] = mse(pred, true, per="step_field")
    per_step["rmse_physical"] = per_step["mse_physical"].sqrt()
    per_step["mse_normalized"] = mse(pred / std, true / std, per="step_field")
    per_step["rmse_normalized"] = per_step["mse_normalized"].sqrt()
    per_step["vrmse"] = vrmse(pred, true, per="step_field")
    if grid_shape is not None:
        dims = len(grid_shape)
        pred_images, true_images = (
            _as_images(pred, grid_shape),
            _as_images(true, grid_shape),
        )
        per_step["ssim"] = ssim(pred_images, true_images, spatial_dims=dims)
        per_step["psnr"] = psnr(pred_images, true_images, spatial_dims=dims)
    report: dict[str, dict[str, list[float | None]]] = {}
    for metric, values in per_step.items():  # values [S, C]
        entry = {name: finite_values(values[:, c]) for c, name in enumerate(field_names)}
        if metric in DIMENSIONLESS:
            entry["all"] = finite_values(values.mean(dim=1))
        report[metric] = entry
    return report


def finite_values(values: Tensor) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def finite_mean(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return sum(finite) / len(finite) if finite else None
