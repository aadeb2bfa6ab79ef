"""The arithmetic floor of the benchmarks: operation counts and the GEMM rate."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

from meshfield.bench._floor import best_time, count_flops, gemm_rate


def test_a_linear_layer_counts_two_operations_per_multiply_add() -> None:
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(10, 8)
    out, flops = count_flops(lambda: layer(x))
    assert flops == 2 * 10 * 8 * 4
    torch.testing.assert_close(out, layer(x))


def test_cpu_flash_attention_is_counted_forward_and_backward() -> None:
    shape = (1, 2, 64, 16)
    q, k, v = (torch.randn(shape, requires_grad=True) for _ in range(3))

    _, forward = count_flops(lambda: F.scaled_dot_product_attention(q, k, v))
    assert forward == sdpa_flop_count(shape, shape, shape) > 0

    def both() -> None:
        F.scaled_dot_product_attention(q, k, v).sum().backward()

    _, total = count_flops(both)
    assert total == forward + sdpa_backward_flop_count(shape, shape, shape, shape)


def test_gemm_rate_is_a_finite_positive_rate() -> None:
    rate = gemm_rate(256, 16, repeat=2)
    assert math.isfinite(rate) and rate > 1e6


def test_best_time_is_the_shortest_call() -> None:
    import time

    delays = iter([0.02, 0.001, 0.01])
    best = best_time(lambda: time.sleep(next(delays)), 3)
    assert 0.001 <= best < 0.01
