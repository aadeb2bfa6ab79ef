"""Morton (Z-order) codes of integer grid coordinates in 2D and 3D.

The Morton code interleaves the bits of the coordinates: bit ``i`` of axis ``j`` lands on bit
``i * dim + j`` of the code, so axis 0 is the least significant axis within each level and the
last axis the most significant. Sorting by the code gives the Z-order (Lebesgue) curve.

Interleaving is done with the classic mask-and-shift "bit spreading" sequence, a fixed handful
of vectorized int64 operations per axis, whatever the depth.

References
----------
G. M. Morton, "A computer oriented geodetic data base and a new technique in file sequencing",
IBM Technical Report, 1966.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["MAX_DEPTH", "morton_decode", "morton_encode"]

#: Largest number of bits per axis whose Morton code fits in a signed int64, per dimension.
MAX_DEPTH: dict[int, int] = {2: 31, 3: 21}

# (shift, mask) pairs that spread the low bits of an integer so that consecutive bits end up
# ``dim`` positions apart. Applied in order to spread, in reverse order to compact.
_SPREAD: dict[int, tuple[tuple[int, int], ...]] = {
    2: (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ),
    3: (
        (32, 0x001F00000000FFFF),
        (16, 0x001F0000FF0000FF),
        (8, 0x100F00F00F00F00F),
        (4, 0x10C30C30C30C30C3),
        (2, 0x1249249249249249),
    ),
}
_LOW: dict[int, int] = {2: 0x00000000FFFFFFFF, 3: 0x00000000001FFFFF}


def _spread(x: Tensor, dim: int, scratch: Tensor) -> Tensor:
    """Move bit ``i`` of ``x`` to bit ``i * dim``, in place (``scratch``: a buffer like ``x``)."""
    x.bitwise_and_(_LOW[dim])
    for shift, mask in _SPREAD[dim]:
        torch.bitwise_left_shift(x, shift, out=scratch)
        x.bitwise_or_(scratch).bitwise_and_(mask)
    return x


def _compact(x: Tensor, dim: int) -> Tensor:
    """Inverse of :func:`_spread`: gather bits ``0, dim, 2 dim, ...`` of ``x`` into the low bits."""
    steps = _SPREAD[dim]
    x = x.bitwise_and(steps[-1][1])
    for k in range(len(steps) - 1, -1, -1):
        shift = steps[k][0]
        mask = steps[k - 1][1] if k > 0 else _LOW[dim]
        x.bitwise_or_(x >> shift).bitwise_and_(mask)
    return x


def morton_encode(grid_coords: Tensor, *, axes: Sequence[int] | None = None) -> Tensor:
    """Morton (Z-order) code of integer grid coordinates.

    Parameters
    ----------
    grid_coords : torch.Tensor
        Non-negative int64 coordinates, each below ``2**MAX_DEPTH[dim]``.
    axes : sequence of int, optional
        Encode ``grid_coords[:, axes]`` (without copying it); default: the axes in order.

    Returns
    -------
    torch.Tensor
        int64 codes: bit ``i`` of axis ``j`` is bit ``i * dim + j`` of the code.

    Shapes
    ------
    ``grid_coords [N, dim]`` with ``dim`` 2 or 3 -> ``[N]``.

    Notes
    -----
    No argument checks: this is the kernel behind :func:`meshfield.serialize.encode`, which
    validates its input.
    """
    dim = grid_coords.shape[1]
    axes = range(dim) if axes is None else axes
    scratch = grid_coords.new_empty(grid_coords.shape[0])
    code = _spread(grid_coords[:, axes[0]].clone(), dim, scratch)
    part = torch.empty_like(code)
    for position in range(1, dim):
        part.copy_(grid_coords[:, axes[position]])
        code.bitwise_or_(_spread(part, dim, scratch).bitwise_left_shift_(position))
    return code


def morton_decode(code: Tensor, dim: int) -> Tensor:
    """Grid coordinates of Morton codes; the inverse of :func:`morton_encode`.

    Parameters
    ----------
    code : torch.Tensor
        Non-negative int64 Morton codes.
    dim : int
        Number of axes, 2 or 3.

    Returns
    -------
    torch.Tensor
        int64 grid coordinates.

    Shapes
    ------
    ``code [N]`` -> ``[N, dim]``.
    """
    return torch.stack([_compact(code >> axis, dim) for axis in range(dim)], dim=1)
