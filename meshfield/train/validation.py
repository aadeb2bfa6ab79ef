"""Rollouts of whole trajectories from their first frames: the validation of training."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

__all__ = ["at_model_step", "rollout_frames", "rollout_trajectory"]


def at_model_step(graph: Any, model: Any) -> Any:
    """``graph`` with the frames (and ``times``) a model of ``frame_step`` s steps through.

    Every ``s``-th frame from the first (a shallow copy; the graph itself is unchanged); the
    graph itself for ``s = 1``. A trajectory of ``T`` frames leaves ``(T - 1) // s + 1``.
    """
    step = int(getattr(model, "frame_step", 1))
    if step == 1 or graph.get("fields") is None:
        return graph
    out = copy.copy(graph)
    out.fields = graph.fields[::step]
    times = graph.get("times")
    if times is not None:
        out.times = times[..., ::step]
    return out


@torch.no_grad()
def rollout_trajectory(
    model: Any, graph: Any, *, device: str | torch.device = "cpu"
) -> tuple[Tensor, Tensor]:
    """Predict every frame of a trajectory after its first ``model.history`` frames.

    A model of ``frame_step`` s predicts every ``s``-th frame (:func:`at_model_step`).

    Returns
    -------
    tuple of torch.Tensor
        ``(prediction, target)``, both ``[T - history, N, C]``, physical units, on the CPU.
    """
    graph = at_model_step(graph, model)
    frames = rollout_frames(model, graph, device)
    history = int(model.history)
    return frames[history:], graph.fields[history:].cpu()


@torch.no_grad()
def rollout_frames(model: Any, graph: Any, device: str | torch.device) -> Tensor:
    """``[T, N, C]``: the first ``history`` reference frames, then the model's rollout.

    ``T`` is the frame count of ``graph`` as given: pass :func:`at_model_step` of a trajectory
    for a model of ``frame_step`` > 1.
    """
    history = int(model.history)
    fields = graph.fields
    steps = fields.size(0) - history
    if steps < 1:
        msg = f"A trajectory of {fields.size(0)} frames leaves nothing to predict after {history} input frames"
        raise ValueError(msg)
    graph = graph.to(device)
    return model.rollout(graph, steps, initial=graph.fields[:history].float()).cpu()
