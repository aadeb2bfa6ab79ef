"""Field metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from meshfield.metrics import mse, relative_l2, rmse, vrmse

# T=2 steps, N=2 nodes, C=2 fields; errors chosen so every mean is a round number
TARGET = torch.tensor([[[1.0, 0.0], [3.0, 2.0]], [[0.0, 4.0], [2.0, 0.0]]])
ERROR = torch.tensor([[[1.0, 2.0], [3.0, 0.0]], [[1.0, 2.0], [1.0, 0.0]]])
PRED = TARGET + ERROR


def test_mse_per_field_step_and_total() -> None:
    # squared errors: step 0: field0 (1, 9) field1 (4, 0); step 1: field0 (1, 1) field1 (4, 0)
    torch.testing.assert_close(
        mse(PRED, TARGET, per="step_field"), torch.tensor([[5.0, 2.0], [1.0, 2.0]])
    )
    torch.testing.assert_close(mse(PRED, TARGET), torch.tensor([3.0, 2.0]))
    torch.testing.assert_close(mse(PRED, TARGET, per="step"), torch.tensor([3.5, 1.5]))
    torch.testing.assert_close(mse(PRED, TARGET, per="total"), torch.tensor(2.5))
    torch.testing.assert_close(rmse(PRED, TARGET, per="total"), torch.tensor(math.sqrt(2.5)))
    torch.testing.assert_close(rmse(PRED, TARGET), torch.tensor([math.sqrt(3.0), math.sqrt(2.0)]))


def test_node_weights_and_masks() -> None:
    mask = torch.tensor([True, False])
    torch.testing.assert_close(mse(PRED, TARGET, weight=mask), torch.tensor([1.0, 4.0]))
    weight = torch.tensor([3.0, 1.0])  # (3 * 1 + 1 * 9) / 4 = 3 and (3 * 1 + 1 * 1) / 4 = 1
    torch.testing.assert_close(
        mse(PRED, TARGET, per="step_field", weight=weight)[:, 0], torch.tensor([3.0, 1.0])
    )


def test_relative_l2() -> None:
    # step 0 field 0: |e| = sqrt(1 + 9), |y| = sqrt(1 + 9) -> 1
    result = relative_l2(PRED, TARGET)
    assert result.shape == (2, 2)
    torch.testing.assert_close(result[0, 0], torch.tensor(1.0))
    torch.testing.assert_close(result[1, 1], torch.tensor(0.5))  # sqrt(4) / sqrt(16)
    # per field: norms over both steps: field 0 sqrt(12) / sqrt(14)
    torch.testing.assert_close(
        relative_l2(PRED, TARGET, per="field")[0], torch.tensor(math.sqrt(12 / 14))
    )
    torch.testing.assert_close(
        relative_l2(PRED, TARGET, per="total"), torch.tensor(math.sqrt(20 / 34))
    )
    torch.testing.assert_close(relative_l2(TARGET, TARGET, per="total"), torch.tensor(0.0))


def test_vrmse_matches_the_well_definition() -> None:
    target = torch.tensor([[[1.0], [3.0], [5.0]]])  # mean 3, unbiased variance 4
    pred = target + torch.tensor([[[2.0], [0.0], [-2.0]]])  # mse 8/3
    torch.testing.assert_close(vrmse(pred, target), torch.tensor([math.sqrt((8 / 3) / (4 + 1e-7))]))
    # predicting the mean scores sqrt((N - 1) / N) with the unbiased variance
    mean = target.mean(-2, keepdim=True).expand_as(target)
    torch.testing.assert_close(
        vrmse(mean, target, per="total"), torch.tensor(math.sqrt(2 / 3)), rtol=1e-6, atol=0
    )
    assert vrmse(target, target, per="total") == 0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mse(PRED, TARGET[:1]), "same shape"),
        (lambda: mse(PRED, TARGET, per="node"), "'per'"),
        (lambda: mse(PRED, TARGET, weight=torch.ones(3)), r"'weight' with shape \[2\]"),
        (lambda: mse(PRED, TARGET, weight=torch.tensor([-1.0, 1.0])), "non-negative"),
        (lambda: mse(PRED[0, 0], TARGET[0, 0]), r"\[\.\.\., N, C\]"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
