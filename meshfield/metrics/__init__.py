r"""Metrics: field errors, PDE residual R, MSE-R and the Strouhal number.

* :func:`mse`, :func:`rmse`, :func:`relative_l2`, :func:`vrmse`: errors per field and per step;
* :func:`residual_r`: the mean squared PDE residual (physical units), per component and step;
* :func:`mse_r`, :func:`mse_r_on_mesh` -> :class:`MSER`: MSE of normalized fields and R scaled
  by the reference data's residual, always reported together:

  .. math::
      \mathrm{MSE\text{-}R} = \mathrm{MSE}_\text{norm} + \lambda\, R(\hat u) / R_\text{ref}

  (full definition in :mod:`meshfield.metrics.residual`);
* :func:`strouhal`, :func:`dominant_frequency`: shedding frequency of a lift signal.
"""

from __future__ import annotations

from meshfield.metrics.fields import mse, relative_l2, rmse, vrmse
from meshfield.metrics.frequency import dominant_frequency, strouhal
from meshfield.metrics.image import psnr, ssim
from meshfield.metrics.report import (
    format_scores_table,
    graph_conditions,
    mean_scores,
    trajectory_scores,
)
from meshfield.metrics.residual import (
    MSER,
    mse_r,
    mse_r_on_mesh,
    normalized_mse,
    residual_r,
)
from meshfield.metrics.trajectory import rollout_metrics

__all__ = [
    "MSER",
    "dominant_frequency",
    "format_scores_table",
    "graph_conditions",
    "mean_scores",
    "mse",
    "mse_r",
    "mse_r_on_mesh",
    "normalized_mse",
    "psnr",
    "relative_l2",
    "residual_r",
    "rmse",
    "rollout_metrics",
    "ssim",
    "strouhal",
    "trajectory_scores",
    "vrmse",
]
