"""Node and point-query decoders; derivatives of point queries against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meshfield.nn import NodeDecoder, PointQueryDecoder
from meshfield.nn.decoder import knn_indices


def test_node_decoder_shape_and_repr() -> None:
    decoder = NodeDecoder(16, 3, hidden=8)
    assert decoder(torch.randn(10, 16)).shape == (10, 3)
    assert repr(decoder) == "NodeDecoder(16, 3, hidden=8)"


def test_knn_matches_brute_force_per_graph() -> None:
    pos = torch.rand(40, 2)
    batch = torch.tensor([0] * 15 + [1] * 25)
    query = torch.rand(12, 2)
    query_batch = torch.tensor([0, 1] * 6)
    index = knn_indices(query, pos, 4, batch, query_batch)
    for i in range(12):
        members = torch.nonzero(batch == query_batch[i]).flatten()
        dist = (pos[members] - query[i]).norm(dim=-1)
        expected = members[dist.argsort()[:4]]
        assert index[i].tolist() == expected.tolist()


def test_knn_needs_enough_nodes() -> None:
    with pytest.raises(ValueError, match="at least 5 nodes"):
        knn_indices(torch.rand(2, 2), torch.rand(4, 2), 5)


@pytest.fixture
def field() -> tuple[PointQueryDecoder, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    decoder = PointQueryDecoder(8, 2, k=6, hidden=16).double()
    g = np.linspace(0, 1, 7)
    pos = torch.tensor(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2))
    pos = pos + 0.02 * torch.randn_like(pos)
    return (
        decoder,
        torch.randn(49, 8, dtype=torch.float64),
        pos,
        torch.randn(49, 2).double(),
    )


def test_query_derivatives_match_finite_differences(field) -> None:
    decoder, h, pos, values = field
    q = torch.tensor([[0.31, 0.47], [0.62, 0.18], [0.55, 0.71]], dtype=torch.float64)

    def f(points: torch.Tensor) -> torch.Tensor:
        return decoder(points, h, pos, values=values)[:, 0]

    q = q.requires_grad_(True)
    (grad,) = torch.autograd.grad(f(q).sum(), q, create_graph=True)
    (hess_x,) = torch.autograd.grad(grad[:, 0].sum(), q)  # d/dq of du/dx
    eps = 1e-5
    with torch.no_grad():
        for axis in range(2):
            step = torch.zeros_like(q)
            step[:, axis] = eps
            fd = (f(q + step) - f(q - step)) / (2 * eps)
            torch.testing.assert_close(grad[:, axis], fd, rtol=1e-5, atol=1e-6)
        step = torch.zeros_like(q)
        step[:, 0] = 1e-4
        fd2 = (f(q + step) - 2 * f(q) + f(q - step)) / 1e-8
    torch.testing.assert_close(hess_x[:, 0], fd2, rtol=1e-3, atol=1e-3)
    assert torch.isfinite(hess_x).all() and (hess_x.abs() > 1e-6).all()


def test_query_is_continuous_across_neighbour_changes(field) -> None:
    decoder, h, pos, values = field
    line = torch.stack(
        [torch.linspace(0.05, 0.95, 2001), torch.full((2001,), 0.4)], -1
    ).double()
    with torch.no_grad():
        out = decoder(line, h, pos, values=values)
    # consecutive points 4.5e-4 apart: no jumps where the neighbour set changes
    assert (out.diff(dim=0).abs().max() < 0.05).item()


def test_query_batch_required_for_several_graphs() -> None:
    decoder = PointQueryDecoder(4, 1, k=2)
    with pytest.raises(ValueError, match="'query_batch' is required"):
        decoder(
            torch.rand(3, 2),
            torch.randn(10, 4),
            torch.rand(10, 2),
            batch=torch.tensor([0] * 5 + [1] * 5),
        )
    with pytest.raises(ValueError, match=r"\[num_queries, 2\]"):
        decoder(torch.rand(3, 3), torch.randn(10, 4), torch.rand(10, 2))


def test_query_repr() -> None:
    assert repr(PointQueryDecoder(8, 2, k=4)) == "PointQueryDecoder(8, 2, dim=2, k=4)"
