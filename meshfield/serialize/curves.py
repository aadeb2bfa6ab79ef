"""The space-filling curves of :mod:`meshfield.serialize`: names, encoding and decoding.

Four orders exist per dimension, as in Point Transformer V3: Z-order (``"z"``), Hilbert
(``"hilbert"``) and their transposed variants (``"z-trans"``, ``"hilbert-trans"``), which run
the same curve on coordinates with the first two axes swapped (x <-> y). Alternating curves
between layers lets every layer see a different neighbourhood of each node.
"""

from __future__ import annotations

import torch
from torch import Tensor

from meshfield.serialize.hilbert import hilbert_decode, hilbert_encode
from meshfield.serialize.morton import MAX_DEPTH, morton_decode, morton_encode

__all__ = ["CURVES", "MAX_DEPTH", "decode", "encode"]

#: The curve names understood everywhere in :mod:`meshfield.serialize`.
CURVES: tuple[str, ...] = ("z", "z-trans", "hilbert", "hilbert-trans")

# axis permutation of the transposed curves (its own inverse)
_TRANS: dict[int, list[int]] = {2: [1, 0], 3: [1, 0, 2]}


def _check_curve(curve: str) -> None:
    if curve not in CURVES:
        msg = f"Unknown curve {curve!r}; expected one of {CURVES}"
        raise ValueError(msg)


def _check_dim(dim: int, what: str) -> None:
    if dim not in MAX_DEPTH:
        msg = f"Expected {what} with 2 or 3 axes (got {dim})"
        raise ValueError(msg)


def _check_depth(depth: int, dim: int) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int):
        msg = f"Expected 'depth' to be an int (got {type(depth).__name__})"
        raise TypeError(msg)
    if not 1 <= depth <= MAX_DEPTH[dim]:
        msg = (
            f"Expected 'depth' in [1, {MAX_DEPTH[dim]}] for {dim}D coordinates so that the code "
            f"fits in a signed int64 (got {depth})"
        )
        raise ValueError(msg)


def _encode(grid_coords: Tensor, curve: str, depth: int) -> Tensor:
    """:func:`encode` without argument checks (``grid_coords`` int64, in range)."""
    axes = _TRANS[grid_coords.shape[1]] if curve.endswith("-trans") else None
    if curve.startswith("hilbert"):
        return hilbert_encode(grid_coords, depth, axes=axes)
    return morton_encode(grid_coords, axes=axes)


def encode(grid_coords: Tensor, curve: str, depth: int) -> Tensor:
    """Position of integer grid cells along a space-filling curve.

    Parameters
    ----------
    grid_coords : torch.Tensor
        Integer cell coordinates in ``[0, 2**depth)``; converted to int64.
    curve : str
        One of :data:`CURVES`.
    depth : int
        Bits per axis, at most 31 in 2D and 21 in 3D (the code has ``depth * dim`` bits and
        must fit in a signed int64).

    Returns
    -------
    torch.Tensor
        int64 codes in ``[0, 2**(depth * dim))``; :func:`decode` inverts them exactly.

    Shapes
    ------
    ``grid_coords [N, dim]`` with ``dim`` 2 or 3 -> ``[N]``.

    References
    ----------
    X. Wu et al., "Point Transformer V3: Simpler, Faster, Stronger", CVPR 2024 (the four
    curves and their use for serializing point clouds).

    Example
    -------
    >>> import torch
    >>> from meshfield.serialize import encode
    >>> encode(torch.tensor([[0, 0], [0, 1], [1, 1], [1, 0]]), "hilbert", depth=1)
    tensor([0, 1, 2, 3])
    """
    _check_curve(curve)
    if not isinstance(grid_coords, Tensor) or grid_coords.dim() != 2:
        got = tuple(grid_coords.shape) if isinstance(grid_coords, Tensor) else type(grid_coords)
        msg = f"Expected 'grid_coords' tensor with shape [N, dim] (got {got})"
        raise ValueError(msg)
    if (
        grid_coords.is_floating_point()
        or grid_coords.is_complex()
        or grid_coords.dtype == torch.bool
    ):
        msg = f"Expected integer 'grid_coords' (got dtype {grid_coords.dtype})"
        raise TypeError(msg)
    dim = grid_coords.shape[1]
    _check_dim(dim, "'grid_coords'")
    _check_depth(depth, dim)
    grid_coords = grid_coords.long()
    if grid_coords.numel() > 0:
        low, high = int(grid_coords.min()), int(grid_coords.max())
        if low < 0 or high >= 1 << depth:
            msg = (
                f"Expected 'grid_coords' in [0, 2**depth) = [0, {1 << depth}) "
                f"(got values in [{low}, {high}])"
            )
            raise ValueError(msg)
    return _encode(grid_coords, curve, depth)


def _decode(code: Tensor, curve: str, depth: int, dim: int) -> Tensor:
    """:func:`decode` without argument checks."""
    if curve.startswith("hilbert"):
        grid_coords = hilbert_decode(code, depth, dim)
    else:
        grid_coords = morton_decode(code, dim)
    if curve.endswith("-trans"):
        grid_coords = grid_coords[:, _TRANS[dim]]
    return grid_coords


def decode(code: Tensor, curve: str, depth: int, dim: int) -> Tensor:
    """Grid cells of curve codes; the exact inverse of :func:`encode`.

    Parameters
    ----------
    code : torch.Tensor
        Integer codes in ``[0, 2**(depth * dim))``, as returned by :func:`encode`. Codes of a
        :class:`~meshfield.serialize.Serialization` carry the graph index in their high bits;
        mask them first (``code & (2**(depth * dim) - 1)``).
    curve : str
        One of :data:`CURVES`.
    depth : int
        Bits per axis the codes were made with.
    dim : int
        Number of axes, 2 or 3.

    Returns
    -------
    torch.Tensor
        int64 grid coordinates in ``[0, 2**depth)``.

    Shapes
    ------
    ``code [N]`` -> ``[N, dim]``.
    """
    _check_curve(curve)
    _check_dim(dim, "'dim'")
    _check_depth(depth, dim)
    if not isinstance(code, Tensor) or code.dim() != 1:
        got = tuple(code.shape) if isinstance(code, Tensor) else type(code)
        msg = f"Expected 'code' tensor with shape [N] (got {got})"
        raise ValueError(msg)
    if code.is_floating_point() or code.is_complex() or code.dtype == torch.bool:
        msg = f"Expected integer 'code' (got dtype {code.dtype})"
        raise TypeError(msg)
    code = code.long()
    if code.numel() > 0:
        low, high = int(code.min()), int(code.max())
        if low < 0 or high >= 1 << (depth * dim):
            msg = (
                f"Expected 'code' in [0, 2**(depth * dim)) = [0, {1 << (depth * dim)}) "
                f"(got values in [{low}, {high}])"
            )
            raise ValueError(msg)
    return _decode(code, curve, depth, dim)
