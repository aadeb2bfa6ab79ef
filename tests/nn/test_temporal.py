"""The temporal latent: pooling per graph, the selective recurrence, memory over steps."""

from __future__ import annotations

import pytest
import torch

from meshfield.nn import TemporalLatent


def test_shapes_and_initial_state() -> None:
    temporal = TemporalLatent(16, 8, out_channels=12)
    cond, state = temporal(torch.randn(30, 16), torch.tensor([0] * 10 + [1] * 20))
    assert cond.shape == (2, 12) and state.shape == (2, 8)
    assert repr(temporal) == "TemporalLatent(16, d_latent=8, out_channels=12)"


def test_recurrence_matches_formula() -> None:
    temporal = TemporalLatent(4, 3)
    z = torch.randn(2, 3)
    previous = torch.randn(2, 3)
    _, state = temporal.step(z, previous)
    dt, x, _ = temporal.in_proj(z).chunk(3, dim=-1)
    dt = torch.nn.functional.softplus(dt + temporal.dt_bias)
    expected = torch.exp(-dt * temporal.A_log.exp()) * previous + dt * x
    torch.testing.assert_close(state, expected)


def test_batched_pooling_equals_separate() -> None:
    temporal = TemporalLatent(8, 4)
    a, b = torch.randn(5, 8), torch.randn(7, 8)
    together, _ = temporal(torch.cat([a, b]), torch.tensor([0] * 5 + [1] * 7))
    torch.testing.assert_close(together, torch.cat([temporal(a)[0], temporal(b)[0]]))


def test_state_carries_memory() -> None:
    # the same input after different pasts gives different outputs
    temporal = TemporalLatent(8, 4)
    tokens = torch.randn(20, 8)
    _, past_a = temporal(torch.randn(20, 8))
    _, past_b = temporal(torch.randn(20, 8) + 3)
    assert not torch.allclose(
        temporal(tokens, state=past_a)[0], temporal(tokens, state=past_b)[0]
    )


def test_decay_in_unit_interval() -> None:
    temporal = TemporalLatent(8, 16)
    dt = torch.nn.functional.softplus(temporal.dt_bias)
    decay = torch.exp(-dt * temporal.A_log.exp())
    assert ((decay > 0) & (decay < 1)).all()
    assert 0.04 < dt.min() and dt.max() < 0.51


def test_bad_state_shape() -> None:
    with pytest.raises(ValueError, match=r"'state' tensor with shape \[1, 4\]"):
        TemporalLatent(8, 4)(torch.randn(5, 8), state=torch.zeros(2, 4))
