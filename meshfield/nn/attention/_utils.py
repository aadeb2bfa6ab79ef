"""Argument checks shared by the attention layers (called at their public entry points)."""

from __future__ import annotations

import torch
from torch import Tensor


def check_sequence(x: Tensor, batch: Tensor | None, channels: int, *, sorted_batch: bool) -> None:
    """Check tokens ``x`` ``[L, channels]`` and their graph index ``batch`` ``[L]``."""
    if x.dim() != 2 or x.size(-1) != channels:
        msg = f"Expected 'x' tensor with shape [L, {channels}] (got {list(x.shape)})"
        raise ValueError(msg)
    if batch is None:
        return
    if batch.dim() != 1 or batch.numel() != x.size(0):
        msg = f"Expected 'batch' tensor with shape [{x.size(0)}] (got {list(batch.shape)})"
        raise ValueError(msg)
    if batch.dtype.is_floating_point or batch.dtype.is_complex:
        msg = f"Expected 'batch' to hold integer graph indices (got dtype {batch.dtype})"
        raise ValueError(msg)
    if sorted_batch and batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        msg = (
            "Expected 'batch' in sequence order (non-decreasing graph indices); serialize the "
            "nodes first, e.g. x[order] with batch[order]"
        )
        raise ValueError(msg)


def graph_sizes(batch: Tensor) -> list[int]:
    """Number of tokens of every graph in a non-decreasing ``batch`` (empty graphs dropped)."""
    counts = torch.unique_consecutive(batch, return_counts=True)[1]
    return counts.tolist()


def sort_by_graph(batch: Tensor) -> tuple[Tensor | None, Tensor]:
    """A stable permutation that makes ``batch`` non-decreasing (``None`` if it already is)."""
    if batch.numel() < 2 or not bool((batch[1:] < batch[:-1]).any()):
        return None, batch
    perm = torch.sort(batch, stable=True).indices
    return perm, batch[perm]
