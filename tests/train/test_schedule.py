"""Linear warm-up and cosine decay of the learning rate."""

from __future__ import annotations

import math

import pytest
import torch

from meshfield.train import WarmupCosine, warmup_cosine


def test_factor_values() -> None:
    f = WarmupCosine(warmup_steps=4, total_steps=12)
    # warm-up: (s + 1) / W, reaching 1 at the last warm-up step
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    # decay over the 8 remaining steps: 0.5 (1 + cos(pi (s - 4) / 8))
    for s in range(4, 12):
        assert f(s) == pytest.approx(0.5 * (1 + math.cos(math.pi * (s - 4) / 8)), abs=1e-15)
    assert f(8) == pytest.approx(0.5)
    assert f(12) == 0.0 and f(100) == 0.0


def test_final_factor_and_constant() -> None:
    f = WarmupCosine(0, 10, final_factor=0.1)
    assert f(0) == 1.0 and f(10) == pytest.approx(0.1)
    assert f(5) == pytest.approx(0.1 + 0.9 * 0.5)
    constant = WarmupCosine(3, 10, cosine=False)
    assert [constant(s) for s in (0, 2, 3, 9, 50)] == [1 / 3, 1.0, 1.0, 1.0, 1.0]


def test_scheduler_drives_the_optimizer() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=0.2)
    scheduler = warmup_cosine(optimizer, warmup_steps=2, total_steps=6, min_lr=0.02)
    rates = []
    for _ in range(7):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    factor = WarmupCosine(2, 6, final_factor=0.1)
    assert rates == pytest.approx([0.2 * factor(s) for s in range(7)])
    assert rates[0] == pytest.approx(0.1) and rates[-1] == pytest.approx(0.02)
    # the state is plain numbers (saved as JSON with a run)
    import json

    json.dumps(scheduler.state_dict())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="total_steps"):
        WarmupCosine(1, 0)
    with pytest.raises(ValueError, match="final_factor"):
        WarmupCosine(1, 5, final_factor=2.0)


def test_budget_fraction_drives_the_decay() -> None:
    f = WarmupCosine(2, 1000, final_factor=0.1)
    assert f(10) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 8 / 998)))
    f.budget_fraction = 0.5  # half the budget spent: the decay is half done, not 0.8 %
    assert f(10) == pytest.approx(0.1 + 0.9 * 0.5)
    f.budget_fraction = 1.0
    assert f(10) == pytest.approx(0.1)
    assert f(1) == 1.0  # the warm-up is counted in steps
    # the steps count when they are further along than the budget
    f.budget_fraction = 0.001
    assert f(600) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 598 / 998)))
    constant = WarmupCosine(2, 1000, cosine=False)
    constant.budget_fraction = 0.9
    assert constant(10) == 1.0
