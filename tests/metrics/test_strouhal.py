"""Shedding frequency of synthetic signals: recovered within 1%."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meshfield.metrics import dominant_frequency, strouhal


@pytest.mark.parametrize("method", ["fft", "zero_crossings"])
@pytest.mark.parametrize("frequency", [0.163, 0.2, 0.31])
def test_recovers_a_sinusoid_within_one_percent(method: str, frequency: float) -> None:
    t = np.arange(0.0, 60.0, 0.05)  # about 10 to 19 periods
    lift = 0.3 + 0.8 * np.sin(2 * np.pi * frequency * t + 0.7)
    found = dominant_frequency(lift, t, method=method)
    assert abs(found - frequency) < 0.01 * frequency, (found, frequency)


def test_strouhal_with_harmonic_noise_transient_and_torch_input() -> None:
    rng = np.random.default_rng(0)
    f, diameter, velocity = 0.45, 0.1, 0.225  # St = f D / U = 0.2
    t = np.arange(0.0, 80.0, 0.02)
    lift = (
        np.sin(2 * np.pi * f * t) + 0.2 * np.sin(4 * np.pi * f * t) + 0.05 * rng.normal(size=t.size)
    )
    lift[t < 10] = 5 * np.exp(-t[t < 10])  # start-up transient
    st = strouhal(
        torch.tensor(lift), torch.tensor(t), diameter=diameter, velocity=velocity, transient=10.0
    )
    assert st == pytest.approx(0.2, rel=0.01)


def test_non_uniform_times_are_resampled() -> None:
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 50, 1500))
    assert dominant_frequency(np.sin(2 * np.pi * 0.25 * t), t) == pytest.approx(0.25, rel=0.01)


@pytest.mark.parametrize(
    ("signal", "times", "kwargs", "match"),
    [
        (np.zeros(3), np.arange(3.0), {}, "length >= 4"),
        (np.zeros(5), np.array([0, 1, 1, 2, 3.0]), {}, "strictly increasing"),
        (
            np.sin(np.arange(5.0) / 10),
            np.arange(5.0),
            {"method": "zero_crossings"},
            "less than one period",
        ),
        (np.zeros(5), np.arange(5.0), {"method": "peaks"}, "'method'"),
        (np.zeros((5, 2)), np.arange(5.0), {}, r"shape \[T\]"),
    ],
)
def test_bad_input(signal, times, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        dominant_frequency(signal, times, **kwargs)
