"""Hilbert codes of integer grid coordinates in 2D and 3D, driven by a state table.

The curve is the Butz-Hamilton Hilbert curve: at every level the ``2**dim`` sub-cells of a
cell are visited in Gray-code order, each sub-cell traversed by a copy of the curve that has
been reflected and rotated (the transform ``T(e, d)``: an entry corner ``e`` and an intrinsic
direction ``d``) so that it enters where the previous copy left and leaves next to where the
following copy enters. Consecutive codes are therefore always face neighbours. The curve of
depth ``m`` starts at the origin and ends at ``(2**m - 1, 0, ...)``.

The pair ``(e, d)`` takes only a few reachable values (4 in 2D, 12 in 3D, see :func:`_states`),
so the whole recursion is a small finite automaton. Reading ``levels`` levels at once, the
automaton becomes one table indexed by ``(state, levels * dim Morton bits)``, and encoding
``N`` points costs ``ceil(depth / levels)`` vectorized table look-ups after one Morton
interleave: no Python loop over points and a short loop over groups of bits.

References
----------
A. R. Butz, "Alternative algorithm for Hilbert's space-filling curve", IEEE Transactions on
Computers, C-20(4), 1971.

C. H. Hamilton, "Compact Hilbert indices", Technical Report CS-2006-07, Dalhousie University,
2006 (the ``T(e, d)`` transform and the entry/direction sequences used here).

J. Skilling, "Programming the Hilbert curve", AIP Conference Proceedings 707, 2004 (Butz's curve
computed on the transposed bits).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
from torch import Tensor

from meshfield.serialize.morton import morton_decode, morton_encode

__all__ = ["LEVELS_PER_STEP", "hilbert_decode", "hilbert_encode"]

#: Levels read per table look-up, per dimension: tables hold ``states << (levels * dim)``
#: entries (4 x 4096 in 2D, 12 x 4096 in 3D), small enough to stay in cache.
LEVELS_PER_STEP: dict[int, int] = {2: 6, 3: 4}


def _gray(i: int) -> int:
    return i ^ (i >> 1)


def _gray_inverse(g: int) -> int:
    i, shift = g, g >> 1
    while shift:
        i ^= shift
        shift >>= 1
    return i


def _trailing_ones(i: int) -> int:
    count = 0
    while i & 1:
        count += 1
        i >>= 1
    return count


def _rotate_right(x: int, r: int, dim: int) -> int:
    r %= dim
    return ((x >> r) | (x << (dim - r))) & ((1 << dim) - 1)


def _rotate_left(x: int, r: int, dim: int) -> int:
    r %= dim
    return ((x << r) | (x >> (dim - r))) & ((1 << dim) - 1)


def _entry(w: int) -> int:
    """Entry corner of sub-cell ``w`` of the Gray-code traversal (Hamilton, Thm 2.10)."""
    return 0 if w == 0 else _gray(2 * ((w - 1) // 2))


def _direction(w: int, dim: int) -> int:
    """Intrinsic direction of sub-cell ``w`` (Hamilton, Lemma 2.8)."""
    if w == 0:
        return 0
    if w % 2 == 0:
        return _trailing_ones(w - 1) % dim
    return _trailing_ones(w) % dim


def _step(state: tuple[int, int], cell: int, dim: int) -> tuple[int, tuple[int, int]]:
    """One level of the recursion: Hilbert digit of ``cell`` and the state of its sub-cell.

    ``cell`` holds one bit per axis (bit ``j`` = axis ``j``), as a level of a Morton code does.
    """
    e, d = state
    w = _gray_inverse(_rotate_right(cell ^ e, d + 1, dim))
    e_next = e ^ _rotate_left(_entry(w), d + 1, dim)
    d_next = (d + _direction(w, dim) + 1) % dim
    return w, (e_next, d_next)


@cache
def _states(dim: int) -> tuple[tuple[int, int], ...]:
    """The reachable ``(e, d)`` states, the start state ``(0, 0)`` first."""
    found = [(0, 0)]
    seen = {(0, 0)}
    for state in found:  # breadth first; ``found`` grows while iterating
        for cell in range(1 << dim):
            _, nxt = _step(state, cell, dim)
            if nxt not in seen:
                seen.add(nxt)
                found.append(nxt)
    return tuple(found)


@cache
def _single_level(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``digit[s, cell]`` and ``next_state[s, cell]`` of one level, as arrays."""
    states = _states(dim)
    number = {state: k for k, state in enumerate(states)}
    digit = np.zeros((len(states), 1 << dim), dtype=np.int64)
    nxt = np.zeros((len(states), 1 << dim), dtype=np.int64)
    for s, state in enumerate(states):
        for cell in range(1 << dim):
            w, state_next = _step(state, cell, dim)
            digit[s, cell] = w
            nxt[s, cell] = number[state_next]
    return digit, nxt


@cache
def _tables(dim: int, levels: int, state_bits: int) -> tuple[Tensor, Tensor]:
    """Encode and decode tables for ``levels`` levels per look-up.

    Both are flat int64 tensors indexed by ``(state << state_bits) | value``. The encode table
    maps ``value`` = ``levels * dim`` Morton bits to ``(next_state << state_bits) | digits``;
    the decode table maps the Hilbert digits back to ``(next_state << state_bits) | morton``.
    """
    digit1, next1 = _single_level(dim)
    n_states = digit1.shape[0]
    width = levels * dim
    state = np.repeat(np.arange(n_states), 1 << width)
    morton = np.tile(np.arange(1 << width), n_states)
    start = state.copy()
    digits = np.zeros_like(morton)
    for level in range(levels - 1, -1, -1):  # most significant level first
        cell = (morton >> (level * dim)) & ((1 << dim) - 1)
        digits |= digit1[state, cell] << (level * dim)
        state = next1[state, cell]
    size = n_states << state_bits
    encode = np.zeros(size, dtype=np.int64)
    decode = np.zeros(size, dtype=np.int64)
    encode[(start << state_bits) | morton] = (state << state_bits) | digits
    decode[(start << state_bits) | digits] = (state << state_bits) | morton
    return torch.from_numpy(encode), torch.from_numpy(decode)


@cache
def _tables_on(dim: int, levels: int, state_bits: int, which: int, device: torch.device) -> Tensor:
    """One table of :func:`_tables`, copied once to ``device``."""
    return _tables(dim, levels, state_bits)[which].to(device)


def _run(value: Tensor, depth: int, dim: int, which: int, levels: int | None) -> Tensor:
    """Walk the automaton over ``value`` (Morton or Hilbert bits), top level first."""
    levels = LEVELS_PER_STEP[dim] if levels is None else levels
    state_bits = levels * dim
    low = (1 << state_bits) - 1
    out = torch.zeros_like(value)
    key = torch.zeros_like(value)  # state << state_bits; the start state is 0
    # two scratch buffers reused at every level: fewer large allocations, lower peak memory
    scratch = torch.empty_like(value)
    entry = torch.empty_like(value)
    level = depth
    while level > 0:
        take = level % levels or levels  # the first look-up takes the remainder
        level -= take
        table = _tables_on(dim, take, state_bits, which, value.device)
        shift = level * dim
        torch.bitwise_right_shift(value, shift, out=scratch)
        key.bitwise_or_(scratch.bitwise_and_((1 << (take * dim)) - 1))
        torch.index_select(table, 0, key, out=entry)
        torch.bitwise_and(entry, low, out=scratch)
        out.bitwise_or_(scratch.bitwise_left_shift_(shift))
        torch.bitwise_and(entry, ~low, out=key)
    return out


def hilbert_encode(
    grid_coords: Tensor,
    depth: int,
    *,
    levels: int | None = None,
    axes: Sequence[int] | None = None,
) -> Tensor:
    """Hilbert code of integer grid coordinates in ``[0, 2**depth)``.

    Parameters
    ----------
    grid_coords : torch.Tensor
        Non-negative int64 coordinates below ``2**depth``.
    depth : int
        Bits per axis; the code has ``depth * dim`` bits.
    levels : int, optional
        Levels per table look-up; default: :data:`LEVELS_PER_STEP`. Any value gives the same
        codes (used by the tests to check the tables against the one-level automaton).
    axes : sequence of int, optional
        Encode ``grid_coords[:, axes]`` (without copying it); default: the axes in order.

    Returns
    -------
    torch.Tensor
        int64 codes in ``[0, 2**(depth * dim))``.

    Shapes
    ------
    ``grid_coords [N, dim]`` with ``dim`` 2 or 3 -> ``[N]``.

    Notes
    -----
    No argument checks: this is the kernel behind :func:`meshfield.serialize.encode`.
    """
    dim = grid_coords.shape[1]
    return _run(morton_encode(grid_coords, axes=axes), depth, dim, 0, levels)


def hilbert_decode(code: Tensor, depth: int, dim: int, *, levels: int | None = None) -> Tensor:
    """Grid coordinates of Hilbert codes; the inverse of :func:`hilbert_encode`.

    Parameters
    ----------
    code : torch.Tensor
        int64 Hilbert codes in ``[0, 2**(depth * dim))``.
    depth : int
        Bits per axis the codes were made with.
    dim : int
        Number of axes, 2 or 3.
    levels : int, optional
        Levels per table look-up; default: :data:`LEVELS_PER_STEP`.

    Returns
    -------
    torch.Tensor
        int64 grid coordinates.

    Shapes
    ------
    ``code [N]`` -> ``[N, dim]``.
    """
    return morton_decode(_run(code, depth, dim, 1, levels), dim)
