"""What autograd keeps for a backward pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["saved_numel"]


def saved_numel(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """Numbers autograd keeps for the backward pass of ``fn(*args, **kwargs)``.

    Every tensor saved for backward is counted by its whole storage, each storage once (views
    of one tensor, or a tensor saved by several operations, count once). Under
    ``torch.no_grad()`` nothing is kept.

    Parameters
    ----------
    fn : callable
        Runs the forward pass (a module, a function, a lambda).
    *args, **kwargs
        Passed to ``fn``.

    Returns
    -------
    int
        Elements kept, summed over distinct storages.

    Example
    -------
    >>> x = torch.randn(10, requires_grad=True)
    >>> saved_numel(lambda: (x * x).exp())  # x, and exp's output
    20
    """
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes() // tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*args, **kwargs)
    return sum(storages.values())
