from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from meshfield.serialize import (
    CURVES,
    Serialization,
    default_depth,
    encode,
    quantize,
    serialize,
)


def check_permutation(s: Serialization, n: int) -> None:
    assert torch.equal(s.order.sort().values, torch.arange(n))
    assert torch.equal(s.inverse[s.order], torch.arange(n))
    assert torch.equal(s.order[s.inverse], torch.arange(n))
    code = s.code[s.order]
    assert bool((code[1:] >= code[:-1]).all())


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("dim", [2, 3])
def test_single_graph(curve: str, dim: int) -> None:
    pos = torch.rand(500, dim)
    s = serialize(pos, curve=curve)
    assert s.curve == curve and s.depth == default_depth(dim)
    check_permutation(s, 500)
    assert torch.equal(pos[s.order][s.inverse], pos)
    assert torch.equal(s.order, torch.argsort(s.code, stable=True))


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("dim", [2, 3])
def test_batch_groups_graphs_and_matches_per_graph_orders(curve: str, dim: int) -> None:
    sizes = [7, 1, 120, 33]
    # each graph has its own box: different offsets and scales
    graphs = [torch.rand(n, dim) * (g + 1) ** 2 + 10 * g for g, n in enumerate(sizes)]
    pos = torch.cat(graphs)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    s = serialize(pos, batch, curve=curve)
    check_permutation(s, pos.shape[0])
    assert bool((batch[s.order][1:] >= batch[s.order][:-1]).all())
    offsets = [0, *itertools.accumulate(sizes)][:-1]
    expected = torch.cat(
        [serialize(p, curve=curve, depth=s.depth).order + o for p, o in zip(graphs, offsets)]
    )
    assert torch.equal(s.order, expected)
    low = s.code & ((1 << (s.depth * dim)) - 1)
    assert torch.equal(s.code >> (s.depth * dim), batch)
    assert torch.equal(low, torch.cat([serialize(p, curve=curve).code for p in graphs]))


def test_unsorted_batch_is_grouped_by_graph() -> None:
    pos = torch.rand(300, 3)
    batch = torch.randint(0, 5, (300,))
    s = serialize(pos, batch)
    check_permutation(s, 300)
    seq_batch = batch[s.order]
    assert bool((seq_batch[1:] >= seq_batch[:-1]).all())
    for g in range(5):
        nodes = (batch == g).nonzero().view(-1)
        alone = serialize(pos[nodes])
        assert torch.equal(s.order[seq_batch == g], nodes[alone.order])


def test_ties_keep_node_order() -> None:
    # many nodes share a cell: the order among them is the node order
    pos = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    s = serialize(pos, depth=2)
    assert s.order.tolist() == [0, 2, 4, 1, 3]
    pos = torch.rand(50, 3).repeat(4, 1)
    order = serialize(pos).order.view(50, 4)
    assert bool((order[:, 1:] > order[:, :-1]).all())


def test_similarity_invariance_and_isotropic_scaling() -> None:
    pos = torch.rand(400, 3, dtype=torch.float64)
    pos[:, 2] *= 0.1  # a thin slab keeps its aspect ratio
    s = serialize(pos)
    moved = serialize(pos * 8.0 + torch.tensor([3.0, -5.0, 100.0], dtype=torch.float64))
    assert torch.equal(s.order, moved.order)
    grid = quantize(pos, depth=10)
    assert int(grid[:, 2].max()) <= 0.1 * 1024 + 1
    assert int(grid[:, :2].max()) == 1023


def test_grid_is_a_hilbert_scan_of_pixels() -> None:
    k = 4
    ij = torch.tensor(list(itertools.product(range(1 << k), repeat=2)))
    pos = ij.double() * 0.37 - 2.0
    for curve in ("hilbert", "hilbert-trans"):
        path = ij[serialize(pos, curve=curve).order]
        assert bool(((path[1:] - path[:-1]).abs().sum(1) == 1).all())


def test_degenerate_graphs() -> None:
    same = torch.ones(5, 3)
    s = serialize(same)
    assert s.order.tolist() == [0, 1, 2, 3, 4]
    assert s.code.tolist() == [0] * 5
    one = serialize(torch.rand(1, 2))
    assert one.order.tolist() == [0]
    empty = serialize(torch.zeros(0, 3))
    assert empty.order.numel() == 0 and empty.inverse.numel() == 0
    # a graph of coincident nodes inside a batch does not disturb the others
    pos = torch.cat([torch.zeros(3, 3), torch.rand(10, 3)])
    batch = torch.tensor([0] * 3 + [1] * 10)
    s = serialize(pos, batch)
    assert s.order[:3].tolist() == [0, 1, 2]
    assert torch.equal(s.order[3:] - 3, serialize(pos[3:]).order)
    # an empty graph in the middle of a batch
    s = serialize(pos, torch.tensor([0] * 3 + [2] * 10))
    check_permutation(s, 13)


def test_depth_budget() -> None:
    assert default_depth(3) == 16 and default_depth(2) == 24
    assert default_depth(3, 1 << 15) == 16
    assert default_depth(3, (1 << 15) + 1) == 15
    assert default_depth(2, 1 << 20) == 21
    pos = torch.rand(4, 3)
    s = serialize(pos, torch.tensor([0, 1, 2, 70000]))
    assert s.depth == 15
    with pytest.raises(ValueError, match="63 bits"):
        serialize(pos, torch.tensor([0, 1, 2, 3]), depth=21)
    serialize(pos, depth=21)  # one graph: all 63 bits for coordinates
    serialize(torch.rand(4, 2), torch.tensor([0, 0, 0, 1]), depth=31)
    with pytest.raises(ValueError, match="depth"):
        serialize(pos, depth=22)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"\[num_nodes, 2\] or \[num_nodes, 3\]"):
        serialize(torch.rand(10, 4))
    with pytest.raises(ValueError, match="finite"):
        serialize(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="'batch' tensor with shape \\[3\\]"):
        serialize(torch.rand(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="non-negative"):
        serialize(torch.rand(3, 2), torch.tensor([0, -1, 0]))
    with pytest.raises(TypeError, match="integer 'batch'"):
        serialize(torch.rand(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="Unknown curve"):
        serialize(torch.rand(3, 2), curve="hilbert-2")
    with pytest.raises(ValueError, match="num_graphs"):
        serialize(torch.rand(3, 2), torch.tensor([0, 1, 2]), num_graphs=2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=6),
    st.sampled_from([2, 3]),
    st.sampled_from(CURVES),
    st.integers(1, 12),
)
def test_batched_equals_per_graph(sizes: list[int], dim: int, curve: str, depth: int) -> None:
    torch.manual_seed(sum(sizes))
    graphs = [torch.randn(n, dim) * 3 for n in sizes]
    pos = torch.cat(graphs)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    s = serialize(pos, batch, curve, depth)
    check_permutation(s, pos.shape[0])
    offsets = [0, *itertools.accumulate(sizes)][:-1]
    expected = [serialize(p, curve=curve, depth=depth).order + o for p, o in zip(graphs, offsets)]
    assert torch.equal(s.order, torch.cat(expected))


@pytest.mark.parametrize("dim", [2, 3])
def test_float32_and_float64_positions_give_one_order(dim: int) -> None:
    pos = torch.rand(1000, dim)
    for curve in CURVES:
        a, b = serialize(pos, curve=curve), serialize(pos.double(), curve=curve)
        assert torch.equal(a.code, b.code) and torch.equal(a.order, b.order)


def test_curve_end_points() -> None:
    # the Hilbert curve starts at the origin and ends at the far end of axis 0
    for dim, depth in ((2, 5), (3, 4)):
        corners = torch.zeros(2, dim, dtype=torch.long)
        corners[1, 0] = (1 << depth) - 1
        assert encode(corners, "hilbert", depth).tolist() == [0, (1 << (dim * depth)) - 1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    from meshfield.serialize import patch

    pos = torch.rand(5000, 3)
    batch = torch.sort(torch.randint(0, 4, (5000,))).values
    for curve in CURVES:
        cpu = serialize(pos, batch, curve)
        gpu = serialize(pos.cuda(), batch.cuda(), curve)
        assert torch.equal(gpu.order.cpu(), cpu.order)
        assert torch.equal(gpu.code.cpu(), cpu.code)
        p_cpu = patch(batch[cpu.order], 64, 32)
        p_gpu = patch(batch.cuda()[gpu.order], 64, 32)
        assert torch.equal(p_gpu.index.cpu(), p_cpu.index)
        assert torch.equal(p_gpu.mask.cpu(), p_cpu.mask)
