r"""What a rollout is judged by: errors over the horizon, the wake's frequency and amplitude,
and the same numbers for the trivial baselines.

A field generator is judged by its rollout against the solver, beside what costs nothing: the
persistence baseline (the first frame held for every step) and the reference's time mean
(the best constant field in the mean-squared sense). :func:`rollout_scores` computes, for one
predicted trajectory ``[T, N, C]`` and its reference,

* ``rel_l2``: the relative L2 error over all fields at steps 1, 10 and 50 (1-based: step 1 is
  the first predicted frame) and the mean of the per-step errors over all steps;
* ``rmse_velocity``: the velocity RMSE of MeshGraphNets (Pfaff et al. 2021),
  :math:`\sqrt{\frac{1}{n C_u N}\sum_{t \le n}\sum_{i, c}(\hat u_{tic} - u_{tic})^2}` over the
  velocity channels, for the first 1 and 50 steps and all of them;
* ``strouhal`` and ``strouhal_ref``: :math:`St = f D / U` of one channel at a probe node,
  from the prediction and from the reference (:func:`~meshfield.metrics.strouhal`), and
  ``amplitude_ratio``, the ratio of the standard deviations in time of the two signals (1 is
  the right fluctuation amplitude, 0 a steady field). A signal without fluctuation has no
  frequency: its ``strouhal`` is ``None``.

:func:`baseline_predictions` makes the two baselines of a reference; :func:`oscillation`
gives the frequency and amplitude alone, for generation from the conditions, whose phase is
arbitrary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from meshfield.metrics.fields import relative_l2
from meshfield.metrics.frequency import strouhal

__all__ = [
    "REL_L2_STEPS",
    "RMSE_STEPS",
    "baseline_predictions",
    "oscillation",
    "probe_node",
    "rollout_scores",
    "velocity_channels",
]

#: steps (1-based) at which the relative L2 error is reported
REL_L2_STEPS = (1, 10, 50)
#: horizons of the velocity RMSE (and "all")
RMSE_STEPS = (1, 50)

#: the fewest samples a frequency is estimated from
_MIN_SAMPLES = 4
#: a fluctuation below this fraction of the reference's counts as none
_STEADY = 1e-6


def velocity_channels(field_names: Sequence[str]) -> list[int]:
    """Channels of the velocity: names ``U_x``, ``U_y``, ``U_z`` (or ``u``, ``v``, ``w``)."""
    names = list(field_names)
    found = [i for i, name in enumerate(names) if name.startswith("U_")]
    if not found:
        found = [i for i, name in enumerate(names) if name in ("u", "v", "w")]
    return found


def probe_node(
    reference: Tensor,
    channel: int,
    *,
    pos: Tensor | None = None,
    probe: Sequence[float] | None = None,
) -> int:
    """The probe node: the one nearest to ``probe``, else where ``reference`` fluctuates most.

    Parameters
    ----------
    reference : torch.Tensor
        ``[T, N, C]`` reference frames.
    channel : int
        The channel whose fluctuation chooses the node.
    pos : torch.Tensor, optional
        ``[N, d]`` node positions; needed with ``probe``.
    probe : sequence of float, optional
        Probe coordinates.

    Returns
    -------
    int
    """
    if probe is not None:
        if pos is None:
            msg = "probe_node: a probe position needs the node positions 'pos'"
            raise ValueError(msg)
        point = torch.as_tensor(probe, dtype=pos.dtype, device=pos.device).reshape(1, -1)
        if point.size(1) != pos.size(1):
            msg = f"Expected a probe with {pos.size(1)} coordinates (got {point.size(1)})"
            raise ValueError(msg)
        return int((pos - point).square().sum(-1).argmin())
    return int(reference[:, :, channel].double().std(dim=0).argmax())


def oscillation(
    signal: Tensor,
    times: Tensor,
    *,
    diameter: float = 1.0,
    velocity: float = 1.0,
    scale: float | None = None,
) -> tuple[float | None, float]:
    """Strouhal number and standard deviation in time of a probe signal.

    ``scale`` (default: the signal's own magnitude) decides what counts as no fluctuation:
    a standard deviation below ``1e-6 * scale`` gives a Strouhal number of ``None``, as does
    a signal of fewer than 4 samples.
    """
    values = signal.double().reshape(-1)
    spread = float(values.std()) if values.numel() > 1 else 0.0
    reference = scale if scale is not None else float(values.abs().max()) if values.numel() else 0.0
    if not math.isfinite(spread) or spread <= _STEADY * max(reference, 1e-30):
        return None, 0.0 if math.isfinite(spread) else spread
    if values.numel() < _MIN_SAMPLES:  # too short for a frequency
        return None, spread
    value = strouhal(values.numpy(), times.double().reshape(-1).numpy(),
                     diameter=diameter, velocity=velocity)
    return value, spread


def _step_errors(prediction: Tensor, reference: Tensor) -> Tensor:
    return relative_l2(prediction.double(), reference.double(), per="step")


def rollout_scores(
    prediction: Tensor,
    reference: Tensor,
    *,
    field_names: Sequence[str],
    times: Tensor | None = None,
    pos: Tensor | None = None,
    probe: Sequence[float] | None = None,
    probe_field: str | None = None,
    diameter: float = 1.0,
    velocity: float = 1.0,
) -> dict[str, Any]:
    r"""The scores of one predicted trajectory against its reference (module docstring).

    Parameters
    ----------
    prediction, reference : torch.Tensor
        ``[T, N, C]`` predicted and reference frames, step 1 first, physical units.
    field_names : sequence of str
        The ``C`` channel names (the velocity channels are found by name).
    times : torch.Tensor, optional
        ``[T]`` times of the frames. default: ``0, 1, ..., T - 1`` (the Strouhal numbers are
        then per step).
    pos : torch.Tensor, optional
        ``[N, d]`` node positions (for ``probe``).
    probe : sequence of float, optional
        Probe coordinates; default: the node where the reference's ``probe_field``
        fluctuates most.
    probe_field : str, optional
        The probed channel. default: the second velocity channel (the cross-flow one of a
        wake) when there are two or more, else the first channel.
    diameter, velocity : float, default: 1.0
        :math:`D` and :math:`U` of :math:`St = f D / U`.

    Returns
    -------
    dict
        ``rel_l2`` (``{"1": ..., "10": ..., "50": ..., "mean": ...}``; steps beyond the
        horizon are ``None``), ``rmse_velocity`` (``{"1", "50", "all"}``, ``None`` without
        velocity channels), ``strouhal``, ``strouhal_ref``, ``amplitude_ratio``,
        ``probe_field``, ``probe_node`` and ``probe`` (its coordinates, with ``pos``).

    Shapes
    ------
    ``prediction, reference [T, N, C]``, ``times [T]``, ``pos [N, d]``
    """
    if prediction.shape != reference.shape or prediction.dim() != 3:
        msg = (
            "Expected prediction and reference of the same shape [T, N, C] "
            f"(got {list(prediction.shape)} and {list(reference.shape)})"
        )
        raise ValueError(msg)
    names = list(field_names)
    if len(names) != prediction.size(-1):
        msg = f"Expected {prediction.size(-1)} field names (got {names})"
        raise ValueError(msg)
    steps = prediction.size(0)
    errors = _step_errors(prediction, reference)
    rel = {str(k): (float(errors[k - 1]) if k <= steps else None) for k in REL_L2_STEPS}
    rel["mean"] = float(errors.mean())
    velocity_idx = velocity_channels(names)
    rmse: dict[str, float | None] = {}
    if velocity_idx:
        squared = (prediction[..., velocity_idx].double() - reference[..., velocity_idx].double())
        per_step = squared.square().mean(dim=(1, 2))
        cumulative = per_step.cumsum(0) / torch.arange(1, steps + 1, dtype=per_step.dtype)
        for k in RMSE_STEPS:
            rmse[str(k)] = float(cumulative[k - 1].sqrt()) if k <= steps else None
        rmse["all"] = float(cumulative[-1].sqrt())
    else:
        rmse = {**{str(k): None for k in RMSE_STEPS}, "all": None}
    if probe_field is None:
        channel = velocity_idx[1] if len(velocity_idx) >= 2 else 0
    elif probe_field in names:
        channel = names.index(probe_field)
    else:
        msg = f"probe_field {probe_field!r} is not one of the fields {names}"
        raise ValueError(msg)
    node = probe_node(reference, channel, pos=pos, probe=probe)
    if times is None:
        times = torch.arange(steps, dtype=torch.float64)
    times = torch.as_tensor(times).reshape(-1)[-steps:]
    ref_signal = reference[:, node, channel]
    scale = float(ref_signal.double().abs().max())
    st_ref, amp_ref = oscillation(ref_signal, times, diameter=diameter, velocity=velocity)
    st, amp = oscillation(
        prediction[:, node, channel], times, diameter=diameter, velocity=velocity, scale=scale
    )
    scores: dict[str, Any] = {
        "rel_l2": rel,
        "rmse_velocity": rmse,
        "strouhal": st,
        "strouhal_ref": st_ref,
        "amplitude_ratio": (amp / amp_ref) if amp_ref > 0 else None,
        "probe_field": names[channel],
        "probe_node": node,
    }
    if pos is not None:
        scores["probe"] = [float(x) for x in pos[node].tolist()]
    return scores


def baseline_predictions(reference: Tensor, first: Tensor) -> dict[str, Tensor]:
    """The trivial predictions of a reference ``[T, N, C]`` that every model must beat.

    ``persistence``: ``first`` (the last input frame ``[N, C]``) held for every step;
    ``time_mean``: the reference's mean over its ``T`` steps at every node.
    """
    steps = reference.size(0)
    return {
        "persistence": first.reshape(1, *first.shape[-2:]).expand(steps, -1, -1),
        "time_mean": reference.mean(dim=0, keepdim=True).expand(steps, -1, -1),
    }
