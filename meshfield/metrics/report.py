"""Scores of predicted trajectories against their references, and the table that reports them.

One place for what every case reports: MSE (normalized fields), relative L2, R, R_ref and MSE-R
of a rollout (see :mod:`meshfield.metrics.residual` for the definitions), their mean over runs,
and a plain-text table with one row per model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from meshfield.metrics.fields import relative_l2
from meshfield.metrics.residual import mse_r_on_mesh, residual_r

__all__ = [
    "SCALAR_SCORES",
    "format_scores_table",
    "graph_conditions",
    "mean_scores",
    "trajectory_scores",
]

#: The scalar entries of :func:`trajectory_scores`, in table order.
SCALAR_SCORES: tuple[str, ...] = ("mse", "rel_l2", "R", "R_ref", "mse_r")


def graph_conditions(graph: Any) -> dict[str, float]:
    """The conditions of a trajectory as ``{name: value}`` (from ``cond`` and ``cond_names``)."""
    return dict(zip(graph.cond_names, graph.cond.tolist(), strict=True))


def trajectory_scores(
    prediction: Tensor,
    graph: Any,
    pde: Any,
    *,
    scale: Tensor,
    field_names: Sequence[str],
    history: int = 0,
) -> dict[str, Any]:
    """MSE, relative L2, R, R_ref and MSE-R of one predicted trajectory against its reference.

    Parameters
    ----------
    prediction : Tensor
        ``[T, N, C]`` predicted fields in physical units; the first ``history`` frames are the
        reference's (as in a rollout) and are left out of the relative L2 and the curves.
    graph : MeshGraph
        The reference trajectory (mesh, ``fields``, ``times``, ``cond``, ``cond_names``).
    pde : PDE
        The governing equation of the residual.
    scale : Tensor
        ``[C]`` field scale that normalizes the MSE (a model's ``normalizer.field_std``).
    field_names : sequence of str
        Names of the ``C`` channels of ``prediction``.
    history : int, default: 0
        Given (not predicted) frames at the start.

    Returns
    -------
    dict
        The scalars of :data:`SCALAR_SCORES` and the per-step curves ``rel_l2_steps`` and
        ``R_steps`` over the predicted steps.
    """
    from meshfield.physics import MeshOperators

    reference = graph.fields.float()
    cond = graph_conditions(graph)
    operators = MeshOperators.from_data(graph)
    metric = mse_r_on_mesh(
        prediction,
        reference,
        pde,
        operators,
        times=graph.times,
        cond=cond,
        field_names=list(field_names),
        scale=scale,
        interior_only=True,
    )
    residual = pde.mesh_residual(operators, prediction, times=graph.times, cond=cond)
    predicted, target = prediction[history:], reference[history:]
    return {
        "mse": metric.mse,
        "rel_l2": relative_l2(predicted, target, per="total").item(),
        "R": metric.r,
        "R_ref": metric.r_ref,
        "mse_r": metric.score,
        "rel_l2_steps": relative_l2(predicted, target, per="step").tolist(),
        "R_steps": residual_r(
            residual[history:, operators.interior], per="step"
        ).tolist(),
    }


def mean_scores(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The mean of the scalar scores over runs (rows of :func:`trajectory_scores`)."""
    if not rows:
        msg = "mean_scores needs at least one row of scores (got none)"
        raise ValueError(msg)
    return {
        key: sum(float(row[key]) for row in rows) / len(rows) for key in SCALAR_SCORES
    }


def format_scores_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """A plain-text table: one line per labelled row of MSE, rel-L2, R, R/R_ref and MSE-R.

    Example
    -------
    >>> row = {"mse": 0.1, "rel_l2": 0.2, "R": 2.0, "R_ref": 1.0, "mse_r": 2.1}
    >>> print(format_scores_table({"pretrained": row}))  # doctest: +NORMALIZE_WHITESPACE
    model                MSE      rel-L2           R     R/R_ref       MSE-R
    pretrained           0.1         0.2           2           2         2.1
    """
    lines = [
        f"{'model':<12}{'MSE':>12}{'rel-L2':>12}{'R':>12}{'R/R_ref':>12}{'MSE-R':>12}"
    ]
    for name, row in rows.items():
        lines.append(
            f"{name:<12}{row['mse']:>12.4g}{row['rel_l2']:>12.4g}{row['R']:>12.4g}"
            f"{row['R'] / row['R_ref']:>12.4g}{row['mse_r']:>12.4g}"
        )
    return "\n".join(lines)
