from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sfc_reference import hilbert_reference, morton_reference

from meshfield.serialize import CURVES, MAX_DEPTH, decode, encode
from meshfield.serialize.hilbert import hilbert_encode


def full_grid(dim: int, depth: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(1 << depth), repeat=dim)))


CASES = [(2, depth) for depth in range(1, 6)] + [(3, depth) for depth in range(1, 5)]


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize(("dim", "depth"), CASES)
def test_bijection_on_full_grid(curve: str, dim: int, depth: int) -> None:
    grid = full_grid(dim, depth)
    code = encode(grid, curve, depth)
    assert torch.equal(code.sort().values, torch.arange(1 << (dim * depth)))
    assert torch.equal(decode(code, curve, depth, dim), grid)


@pytest.mark.parametrize("curve", ["hilbert", "hilbert-trans"])
@pytest.mark.parametrize(("dim", "depth"), CASES)
def test_hilbert_steps_are_face_neighbours(curve: str, dim: int, depth: int) -> None:
    size = 1 << (dim * depth)
    path = decode(torch.arange(size), curve, depth, dim)
    steps = (path[1:] - path[:-1]).abs().sum(dim=1)
    assert torch.equal(steps, torch.ones(size - 1, dtype=torch.long))
    assert path[0].tolist() == [0] * dim


@pytest.mark.parametrize(("dim", "depth"), [(2, 3), (3, 2)])
def test_z_order_jumps(dim: int, depth: int) -> None:
    # sanity check of the test above: Z-order is not a face-connected path
    path = decode(torch.arange(1 << (dim * depth)), "z", depth, dim)
    assert int((path[1:] - path[:-1]).abs().sum(dim=1).max()) > 1


@pytest.mark.parametrize(("dim", "depth"), CASES)
def test_matches_scalar_reference(dim: int, depth: int) -> None:
    grid = full_grid(dim, depth)
    points = [tuple(p) for p in grid.tolist()]
    hilbert = torch.tensor([hilbert_reference(p, depth) for p in points])
    morton = torch.tensor([morton_reference(p, depth) for p in points])
    assert torch.equal(encode(grid, "hilbert", depth), hilbert)
    assert torch.equal(encode(grid, "z", depth), morton)


@pytest.mark.parametrize("dim", [2, 3])
def test_deep_codes_match_reference(dim: int) -> None:
    depth = MAX_DEPTH[dim]
    grid = torch.randint(0, 1 << depth, (200, dim))
    grid[0] = (1 << depth) - 1
    points = [tuple(p) for p in grid.tolist()]
    assert encode(grid, "hilbert", depth).tolist() == [hilbert_reference(p, depth) for p in points]
    assert encode(grid, "z", depth).tolist() == [morton_reference(p, depth) for p in points]


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("levels", [1, 2, 3, 5, 7])
def test_table_width_does_not_change_codes(dim: int, levels: int) -> None:
    depth = 13
    grid = torch.randint(0, 1 << depth, (500, dim))
    assert torch.equal(hilbert_encode(grid, depth, levels=levels), hilbert_encode(grid, depth))


@pytest.mark.parametrize("dim", [2, 3])
def test_transposed_curves_swap_x_and_y(dim: int) -> None:
    grid = torch.randint(0, 1 << 6, (100, dim))
    swapped = grid.clone()
    swapped[:, [0, 1]] = grid[:, [1, 0]]
    for base in ("z", "hilbert"):
        assert torch.equal(encode(grid, f"{base}-trans", 6), encode(swapped, base, 6))
    assert not torch.equal(encode(grid, "hilbert", 6), encode(grid, "hilbert-trans", 6))


@st.composite
def coords(draw: st.DrawFn) -> tuple[torch.Tensor, int, str]:
    dim = draw(st.sampled_from([2, 3]))
    depth = draw(st.integers(1, MAX_DEPTH[dim]))
    curve = draw(st.sampled_from(CURVES))
    n = draw(st.integers(0, 30))
    values = draw(st.lists(st.integers(0, (1 << depth) - 1), min_size=n * dim, max_size=n * dim))
    return torch.tensor(values, dtype=torch.long).view(n, dim), depth, curve


@settings(max_examples=200, deadline=None)
@given(coords())
def test_decode_inverts_encode(case: tuple[torch.Tensor, int, str]) -> None:
    grid, depth, curve = case
    dim = grid.shape[1]
    code = encode(grid, curve, depth)
    assert code.shape == (grid.shape[0],)
    assert all(0 <= c < 1 << (dim * depth) for c in code.tolist())
    assert torch.equal(decode(code, curve, depth, dim), grid)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([2, 3]).flatmap(
        lambda dim: st.tuples(
            st.just(dim),
            st.integers(1, MAX_DEPTH[dim]).flatmap(
                lambda depth: st.tuples(
                    st.just(depth),
                    st.lists(st.integers(0, (1 << (dim * depth)) - 1), max_size=30),
                )
            ),
        )
    ),
    st.sampled_from(CURVES),
)
def test_encode_inverts_decode(case: tuple, curve: str) -> None:
    dim, (depth, values) = case
    code = torch.tensor(values, dtype=torch.long)
    assert torch.equal(encode(decode(code, curve, depth, dim), curve, depth), code)


def test_errors() -> None:
    grid = torch.zeros(4, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="Unknown curve"):
        encode(grid, "peano", 4)
    with pytest.raises(ValueError, match="depth"):
        encode(grid, "z", 22)
    with pytest.raises(ValueError, match="depth"):
        encode(grid, "z", 0)
    with pytest.raises(ValueError, match=r"\[N, dim\]"):
        encode(torch.zeros(4, dtype=torch.long), "z", 4)
    with pytest.raises(ValueError, match="2 or 3 axes"):
        encode(torch.zeros(4, 4, dtype=torch.long), "z", 4)
    with pytest.raises(TypeError, match="integer"):
        encode(grid.float(), "z", 4)
    with pytest.raises(ValueError, match="got values in"):
        encode(grid + 16, "hilbert", 4)
    with pytest.raises(ValueError, match="got values in"):
        decode(torch.tensor([1 << 12]), "hilbert", 4, 3)
    encode(torch.zeros(4, 2, dtype=torch.int32), "z", 31)  # 31 bits fit in 2D
