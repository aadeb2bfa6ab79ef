from __future__ import annotations

import torch

from meshfield.testing import saved_numel


def test_counts_each_storage_once() -> None:
    x = torch.randn(10, requires_grad=True)
    # x * x keeps x (twice, one storage); exp keeps its output
    assert saved_numel(lambda: (x * x).exp()) == 20
    # a view of x saved by another operation is x's storage again
    assert saved_numel(lambda: (x * x)[:5] + x[:5].sin()) == 10


def test_nothing_without_gradients() -> None:
    x = torch.randn(10, requires_grad=True)
    with torch.no_grad():
        assert saved_numel(lambda: (x * x).exp()) == 0
    assert saved_numel(lambda: x + 1) == 0  # an addition keeps nothing


def test_passes_arguments() -> None:
    layer = torch.nn.Linear(4, 3)
    x = torch.randn(7, 4, requires_grad=True)
    # a linear layer keeps its input and its weight
    assert saved_numel(layer, x) == x.numel() + layer.weight.numel()
