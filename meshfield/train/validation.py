"""Rollouts of whole trajectories from their first frames: the validation of training."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["rollout_frames", "rollout_trajectory"]


@torch.no_grad()
def rollout_trajectory(
    model: Any, graph: Any, *, device: str | torch.device = "cpu"
) -> tuple[Tensor, Tensor]:
    """Predict every frame of a trajectory after its first ``model.history`` frames.

    Returns
    -------
    tuple of torch.Tensor
        ``(prediction, target)``, both ``[T - history, N, C]``, physical units, on the CPU.
    """
    frames = rollout_frames(model, graph, device)
    history = int(model.history)
    return frames[history:], graph.fields[history:].cpu()


@torch.no_grad()
def rollout_frames(model: Any, graph: Any, device: str | torch.device) -> Tensor:
    """``[T, N, C]``: the first ``history`` reference frames, then the model's rollout."""
    history = int(model.history)
    fields = graph.fields
    steps = fields.size(0) - history
    if steps < 1:
        msg = f"A trajectory of {fields.size(0)} frames leaves nothing to predict after {history} input frames"
        raise ValueError(msg)
    graph = graph.to(device)
    return model.rollout(graph, steps, initial=graph.fields[:history].float()).cpu()
