from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from meshfield.serialize import Patching, patch


def graph_ids(sizes: list[int]) -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes, dtype=torch.long))


def check_patching(p: Patching, batch: torch.Tensor) -> None:
    length = batch.numel()
    size = p.patch_size
    assert p.index.shape == p.mask.shape == (p.num_patches, size)
    assert p.patch_batch.shape == (p.num_patches,)
    # every real position exactly once, in sequence order
    assert torch.equal(p.index[p.mask], torch.arange(length))
    # no patch mixes graphs, padded slots included; patches are never empty
    assert torch.equal(batch[p.index], p.patch_batch.view(-1, 1).expand(-1, size))
    assert bool(p.mask.any(dim=1).all())
    assert torch.equal(p.token_patch, p.token_slot // size)


def reference_patches(sizes: list[int], size: int, shift: int) -> list[list[int]]:
    """Patches as lists of positions, built one graph at a time."""
    out, start = [], 0
    for n in sizes:
        if n == 0:
            continue
        current: list[int] = []
        for local in range(n):
            if current and (local + shift) % size == 0:
                out.append(current)
                current = []
            current.append(start + local)
        out.append(current)
        start += n
    return out


def test_small_example_exact() -> None:
    batch = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    p = patch(batch, 3)
    assert p.index.tolist() == [[0, 1, 2], [3, 4, 3], [5, 6, 7]]
    assert p.mask.tolist() == [[True] * 3, [True, True, False], [True] * 3]
    assert p.patch_batch.tolist() == [0, 0, 1]
    q = patch(batch, 3, shift=1)
    assert q.index.tolist() == [[0, 0, 1], [2, 3, 4], [5, 5, 6], [7, 7, 7]]
    assert q.mask.tolist() == [
        [False, True, True],
        [True, True, True],
        [False, True, True],
        [True, False, False],
    ]
    assert q.patch_batch.tolist() == [0, 0, 1, 1]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=6),
    st.integers(1, 9).flatmap(lambda k: st.tuples(st.just(k), st.integers(0, k - 1))),
)
def test_random_graph_sizes(sizes: list[int], size_shift: tuple[int, int]) -> None:
    size, shift = size_shift
    batch = graph_ids(sizes)
    p = patch(batch, size, shift)
    check_patching(p, batch)
    expected = reference_patches(sizes, size, shift)
    assert [row[m].tolist() for row, m in zip(p.index, p.mask)] == expected
    x = torch.randn(batch.numel(), 4, dtype=torch.float64)
    packed = p.pack(x)
    assert packed.shape == (p.num_patches, size, 4)
    assert torch.equal(p.unpack(packed), x)
    pooled = p.pool(x)
    means = torch.stack([x[rows].mean(0) for rows in expected]) if expected else pooled
    torch.testing.assert_close(pooled, means)
    assert torch.equal(p.unpool(pooled), pooled[p.token_patch])


@pytest.mark.parametrize("shift", [0, 2])
def test_attention_mask_matches_attention_per_patch(shift: int) -> None:
    sizes = [11, 3, 17]
    batch = graph_ids(sizes)
    p = patch(batch, 5, shift)
    heads, dim = 2, 8
    x = torch.randn(batch.numel(), heads, dim, dtype=torch.float64)
    q = p.pack(x).transpose(1, 2)  # [P, H, K, D]
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=p.attn_mask)
    out = p.unpack(out.transpose(1, 2))
    for row, m in zip(p.index, p.mask):
        tokens = row[m]
        xs = x[tokens].transpose(0, 1)
        ref = F.scaled_dot_product_attention(xs, xs, xs).transpose(0, 1)
        torch.testing.assert_close(out[tokens], ref)
    assert p.attn_mask.shape == (p.num_patches, 1, 5, 5)


def test_shift_moves_borders() -> None:
    batch = torch.zeros(12, dtype=torch.long)
    a, b = patch(batch, 4), patch(batch, 4, shift=2)
    assert a.token_patch.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert b.token_patch.tolist() == [0] * 2 + [1] * 4 + [2] * 4 + [3] * 2


def test_gradients_flow_through_pack_and_unpack() -> None:
    sizes = [5, 4]
    p = patch(graph_ids(sizes), 3, 1)
    assert not bool(p.mask.all())  # padded slots (copies of real tokens) take part too
    x = torch.randn(9, 2, requires_grad=True)
    w = torch.randn(9, 2)
    # unpack(pack(x)) is x itself, so the gradient of sum(w * x) is w, exactly: the padded
    # slots, which repeat a real token, must add nothing to that token's gradient
    (grad,) = torch.autograd.grad((w * p.unpack(p.pack(x))).sum(), x)
    assert torch.equal(grad, w)
    # unpool(pool(x)) puts the patch mean on every token, so token i's gradient is the mean of
    # w over the tokens of its patch (built here from the reference patches)
    expected = torch.empty_like(w)
    for tokens in reference_patches(sizes, 3, 1):
        expected[tokens] = w[tokens].mean(dim=0)
    (grad,) = torch.autograd.grad((w * p.unpool(p.pool(x))).sum(), x)
    torch.testing.assert_close(grad, expected)


def test_empty_and_errors() -> None:
    p = patch(torch.zeros(0, dtype=torch.long), 4)
    assert p.num_patches == 0 and p.index.shape == (0, 4)
    with pytest.raises(ValueError, match="non-decreasing"):
        patch(torch.tensor([0, 1, 0]), 2)
    with pytest.raises(ValueError, match="patch_size"):
        patch(torch.tensor([0, 0]), 0)
    with pytest.raises(ValueError, match="shift"):
        patch(torch.tensor([0, 0]), 2, shift=2)
    with pytest.raises(ValueError, match=r"shape \[L\]"):
        patch(torch.zeros(2, 2, dtype=torch.long), 2)
    with pytest.raises(TypeError, match="integer"):
        patch(torch.zeros(3), 2)
