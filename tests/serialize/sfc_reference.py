"""Slow, obviously-correct references for the curve encoders (one point at a time)."""

from __future__ import annotations


def morton_reference(point: tuple[int, ...], depth: int) -> int:
    """Interleave bits: bit ``i`` of axis ``j`` -> bit ``i * dim + j``."""
    dim = len(point)
    code = 0
    for i in range(depth):
        for j, x in enumerate(point):
            code |= ((x >> i) & 1) << (i * dim + j)
    return code


def _gray(i: int) -> int:
    return i ^ (i >> 1)


def _gray_inverse(g: int) -> int:
    i = 0
    while g:
        i ^= g
        g >>= 1
    return i


def _trailing_ones(i: int) -> int:
    n = 0
    while i & 1:
        n += 1
        i >>= 1
    return n


def _rot_right(x: int, r: int, dim: int) -> int:
    r %= dim
    return ((x >> r) | (x << (dim - r))) & ((1 << dim) - 1)


def _rot_left(x: int, r: int, dim: int) -> int:
    r %= dim
    return ((x << r) | (x >> (dim - r))) & ((1 << dim) - 1)


def hilbert_reference(point: tuple[int, ...], depth: int) -> int:
    """Hamilton's Algorithm 2 ("Compact Hilbert indices", 2006), written out per level."""
    dim = len(point)
    h, e, d = 0, 0, 0
    for i in range(depth - 1, -1, -1):
        bits = sum(((x >> i) & 1) << j for j, x in enumerate(point))
        w = _gray_inverse(_rot_right(bits ^ e, d + 1, dim))
        entry = 0 if w == 0 else _gray(2 * ((w - 1) // 2))
        if w == 0:
            direction = 0
        elif w % 2 == 0:
            direction = _trailing_ones(w - 1) % dim
        else:
            direction = _trailing_ones(w) % dim
        e ^= _rot_left(entry, d + 1, dim)
        d = (d + direction + 1) % dim
        h = (h << dim) | w
    return h
