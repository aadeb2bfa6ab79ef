"""Cutting long work into bounded pieces: the one helper for every chunked loop.

Edges of a message-passing layer, tokens of an MLP or a scan without gradients, points of an
autograd derivative: each loop over pieces of ``range(total)`` takes its slices from
:func:`spans`, so a piece's bounds are computed one way everywhere.
"""

from __future__ import annotations

__all__ = ["spans"]


def spans(total: int, size: int) -> list[slice]:
    """Consecutive slices of at most ``size`` items covering ``range(total)``.

    Parameters
    ----------
    total : int
        Items to cover (``>= 0``); none gives no slice.
    size : int
        Items per slice (``>= 1``); the last slice may be shorter.

    Returns
    -------
    list of slice
        ``[slice(0, size), slice(size, 2 size), ..., slice(k size, total)]``.

    Example
    -------
    >>> spans(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    if total < 0 or size < 1:
        msg = f"spans: expected total >= 0 and size >= 1 (got {total}, {size})"
        raise ValueError(msg)
    return [slice(start, min(start + size, total)) for start in range(0, total, size)]
