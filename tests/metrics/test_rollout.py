"""Rollout scores: errors over the horizon, velocity RMSE, Strouhal and amplitude, baselines."""

from __future__ import annotations

import math

import pytest
import torch

from meshfield.metrics.rollout import (
    baseline_predictions,
    oscillation,
    probe_node,
    rollout_scores,
    velocity_channels,
)

NAMES = ["U_x", "U_y", "p"]


def _wake(steps: int = 100, nodes: int = 6, frequency: float = 0.2, amplitude: float = 1.0,
          phase: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A toy wake: U_y oscillates at ``frequency`` with an amplitude growing over the nodes."""
    times = 0.2 * torch.arange(steps, dtype=torch.float64)
    weight = torch.linspace(0.1, 1.0, nodes, dtype=torch.float64)
    wave = torch.sin(2 * math.pi * frequency * times + phase)
    fields = torch.zeros(steps, nodes, 3, dtype=torch.float64)
    fields[..., 0] = 1.0
    fields[..., 1] = amplitude * wave[:, None] * weight[None, :]
    fields[..., 2] = 0.1 * wave[:, None]
    return fields, times


def test_perfect_prediction() -> None:
    reference, times = _wake()
    scores = rollout_scores(reference.clone(), reference, field_names=NAMES, times=times)
    assert scores["rel_l2"] == {"1": 0.0, "10": 0.0, "50": 0.0, "mean": 0.0}
    assert scores["rmse_velocity"] == {"1": 0.0, "50": 0.0, "all": 0.0}
    assert scores["strouhal"] == pytest.approx(0.2, rel=0.02)
    assert scores["strouhal"] == scores["strouhal_ref"] and scores["amplitude_ratio"] == 1.0
    assert scores["probe_field"] == "U_y" and scores["probe_node"] == 5  # largest fluctuation


def test_hand_computed_errors() -> None:
    reference, times = _wake(steps=60)
    prediction = reference.clone()
    prediction[9, :, 0] += 0.5  # step 10 only, U_x by 0.5 at every node
    scores = rollout_scores(prediction, reference, field_names=NAMES, times=times)
    norm = reference[9].square().sum().sqrt()
    expected = float(0.5 * math.sqrt(6) / norm)
    assert scores["rel_l2"]["10"] == pytest.approx(expected)
    assert scores["rel_l2"]["1"] == 0.0 and scores["rel_l2"]["50"] == 0.0
    assert scores["rel_l2"]["mean"] == pytest.approx(expected / 60)
    # velocity RMSE over steps 1..n: one error of 0.5 in 2 channels x 6 nodes x n steps
    assert scores["rmse_velocity"]["1"] == 0.0
    assert scores["rmse_velocity"]["50"] == pytest.approx(math.sqrt(0.25 * 6 / (50 * 2 * 6)))
    assert scores["rmse_velocity"]["all"] == pytest.approx(math.sqrt(0.25 * 6 / (60 * 2 * 6)))


def test_a_short_rollout_has_no_late_steps() -> None:
    reference, times = _wake(steps=20)
    scores = rollout_scores(reference, reference, field_names=NAMES, times=times)
    assert scores["rel_l2"]["50"] is None and scores["rmse_velocity"]["50"] is None


def test_frequency_and_amplitude_of_a_wrong_wake() -> None:
    reference, times = _wake(frequency=0.2)
    slow, _ = _wake(frequency=0.15, amplitude=0.5, phase=1.0)
    scores = rollout_scores(slow, reference, field_names=NAMES, times=times)
    assert scores["strouhal"] == pytest.approx(0.15, rel=0.03)
    assert scores["strouhal_ref"] == pytest.approx(0.2, rel=0.03)
    assert scores["amplitude_ratio"] == pytest.approx(0.5, rel=0.05)


def test_baselines() -> None:
    reference, times = _wake()
    first = reference[0] + 0.01
    baselines = baseline_predictions(reference, first)
    assert torch.equal(baselines["persistence"][37], first)
    torch.testing.assert_close(baselines["time_mean"][5], reference.mean(0))
    held = rollout_scores(baselines["persistence"], reference, field_names=NAMES, times=times)
    # a steady field has no frequency and no fluctuation
    assert held["strouhal"] is None and held["amplitude_ratio"] == 0.0
    mean = rollout_scores(baselines["time_mean"], reference, field_names=NAMES, times=times)
    # the time mean is the best constant prediction in the mean over steps of squared errors
    assert mean["rmse_velocity"]["all"] < held["rmse_velocity"]["all"]


def test_probe_and_channels() -> None:
    pos = torch.tensor([[0.0, 0.0], [3.4, 0.1], [5.0, 0.0]])
    reference = torch.randn(10, 3, 3)
    assert probe_node(reference, 1, pos=pos, probe=(3.5, 0.0)) == 1
    with pytest.raises(ValueError, match="coordinates"):
        probe_node(reference, 1, pos=pos, probe=(3.5, 0.0, 1.0))
    with pytest.raises(ValueError, match="positions"):
        probe_node(reference, 1, probe=(3.5, 0.0))
    assert velocity_channels(["U_x", "U_y", "p"]) == [0, 1]
    assert velocity_channels(["u", "v", "T"]) == [0, 1] and velocity_channels(["T"]) == []
    scores = rollout_scores(reference, reference, field_names=["a", "b", "c"], pos=pos)
    assert scores["rmse_velocity"]["all"] is None and scores["probe_field"] == "a"
    with pytest.raises(ValueError, match="probe_field"):
        rollout_scores(reference, reference, field_names=NAMES, probe_field="T")
    with pytest.raises(ValueError, match="same shape"):
        rollout_scores(reference[:5], reference, field_names=NAMES)


def test_oscillation_of_a_constant_is_none() -> None:
    st, amplitude = oscillation(torch.ones(50), torch.arange(50.0))
    assert st is None and amplitude == 0.0
