"""The arithmetic floor of a call: its matrix-product operations over the GEMM rate of now.

A benchmark that prints a time also prints how far that time is from the arithmetic: the
floating-point operations of the call's matrix products and attention
(``torch.utils.flop_counter``, with the CPU flash-attention kernels added, which it does not
count on its own), divided by the rate of one plain matrix product of the call's typical shape,
measured in the same process right before. Element-wise work is not counted: the floor is what
the call would take if everything but its matrix products were free.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["best_time", "count_flops", "gemm_rate"]

T = TypeVar("T")


def _cpu_flash_forward(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query, key, value)


def _cpu_flash_backward(
    grad_out: Any, query: Any, key: Any, value: Any, *args: Any, **kwargs: Any
) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out, query, key, value)


def count_flops(fn: Callable[[], T]) -> tuple[T, int]:
    """Run ``fn`` once and count the operations of its matrix products and attention.

    Returns ``fn``'s result and the count (a multiply-add counts 2). The CPU flash-attention
    kernels that ``scaled_dot_product_attention`` runs here are counted like their CUDA
    counterparts.

    Example
    -------
    >>> import torch
    >>> layer = torch.nn.Linear(8, 4)
    >>> count_flops(lambda: layer(torch.randn(10, 8)))[1]
    640
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    mapping: dict[Any, Any] = {}
    for name, formula in (
        ("_scaled_dot_product_flash_attention_for_cpu", _cpu_flash_forward),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", _cpu_flash_backward),
    ):
        if hasattr(aten, name):
            mapping[getattr(aten, name)] = formula
    counter = FlopCounterMode(display=False, custom_mapping=mapping)
    with counter:
        result = fn()
    return result, int(counter.get_total_flops())


def gemm_rate(rows: int, width: int, repeat: int = 20) -> float:
    """FLOP/s of ``[rows, width] @ [width, 4 * width]`` in this process, best of ``repeat``."""
    import torch

    a = torch.randn(rows, width)
    b = torch.randn(width, 4 * width)
    out = torch.empty(rows, 4 * width)
    for _ in range(3):
        torch.mm(a, b, out=out)
    return 2.0 * rows * width * 4 * width / best_time(lambda: torch.mm(a, b, out=out), repeat)


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    """The shortest wall time of ``repeat`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best
