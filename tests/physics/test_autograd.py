"""Autograd operators against closed forms; chunking, batching, graphs kept or freed."""

from __future__ import annotations

import pytest
import torch

from meshfield.physics import divergence, gradient, hessian, laplacian
from meshfield.physics.autograd import jacobian_of, map_chunks


def _f(q: torch.Tensor) -> torch.Tensor:
    """Two channels of (x, y, t): x^2 y + t, sin(x) e^{y t}."""
    x, y, t = q.unbind(-1)
    return torch.stack([x**2 * y + t, torch.sin(x) * torch.exp(y * t)], -1)


def _coords(n: int = 20) -> torch.Tensor:
    return torch.rand(n, 3, dtype=torch.float64)


def test_gradient_includes_time() -> None:
    q = _coords()
    x, y, t = q.unbind(-1)
    g = gradient(_f, q, create_graph=False)
    assert g.shape == (20, 2, 3)
    e = torch.exp(y * t)
    expected = torch.stack(
        [
            torch.stack([2 * x * y, x**2, torch.ones_like(x)], -1),
            torch.stack([torch.cos(x) * e, torch.sin(x) * t * e, torch.sin(x) * y * e], -1),
        ],
        -2,
    )
    torch.testing.assert_close(g, expected)


def test_hessian_and_laplacian_are_spatial() -> None:
    q = _coords()
    x, y, t = q.unbind(-1)
    e = torch.exp(y * t)
    h = hessian(_f, q, spatial_dim=2, create_graph=False)
    assert h.shape == (20, 2, 2, 2)
    h1 = torch.stack(
        [
            torch.stack([-torch.sin(x) * e, torch.cos(x) * t * e], -1),
            torch.stack([torch.cos(x) * t * e, torch.sin(x) * t**2 * e], -1),
        ],
        -2,
    )
    torch.testing.assert_close(h[:, 1], h1)
    torch.testing.assert_close(h[:, 0, 0, 0], 2 * y)
    lap = laplacian(_f, q, spatial_dim=2, create_graph=False)
    torch.testing.assert_close(lap, torch.diagonal(h, dim1=-2, dim2=-1).sum(-1))


def test_divergence() -> None:
    q = torch.rand(10, 3, dtype=torch.float64)
    field = lambda p: torch.stack([p[..., 0] ** 2, p[..., 0] * p[..., 1], p[..., 2] ** 3], -1)
    div = divergence(field, q, create_graph=False)
    torch.testing.assert_close(div, 3 * q[:, 0] + 3 * q[:, 2] ** 2)
    with pytest.raises(ValueError, match="vector field with 2 channels"):
        divergence(field, q, spatial_dim=2)


def test_chunks_batches_and_graphs() -> None:
    q = torch.rand(2, 50, 3, dtype=torch.float64)
    full = laplacian(_f, q, spatial_dim=2)
    assert full.requires_grad
    chunked = laplacian(_f, q, spatial_dim=2, chunk_size=7, create_graph=False)
    assert not chunked.requires_grad
    torch.testing.assert_close(chunked, full.detach())
    torch.testing.assert_close(gradient(_f, q, chunk_size=13), gradient(_f, q))


def test_gradients_flow_to_parameters_and_to_coords() -> None:
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).double()
    q = torch.rand(16, 2, dtype=torch.float64, requires_grad=True)
    lap = laplacian(net, q, chunk_size=5)
    lap.sum().backward()
    # every weight but the output bias (which a Laplacian cannot see) gets a gradient
    assert all(p.grad is not None for p in [net[0].weight, net[0].bias, net[2].weight])
    assert net[2].bias.grad is None
    assert q.grad is not None  # coords that require grad stay part of the caller's graph


def test_unused_coordinate_gives_zeros() -> None:
    q = torch.rand(5, 3, dtype=torch.float64)
    g = gradient(lambda p: p[..., :1] * 2.0, q, create_graph=False)
    torch.testing.assert_close(g[..., 1:], torch.zeros(5, 1, 2, dtype=torch.float64))
    assert laplacian(lambda p: p[..., :1], q, create_graph=False).abs().max() == 0


def test_a_million_queries_in_chunks() -> None:
    """create_graph=False frees every chunk: 10^6 Laplacians of a small MLP."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    q = torch.rand(1_000_000, 3)
    lap = laplacian(net, q, spatial_dim=2, chunk_size=250_000, create_graph=False)
    assert lap.shape == (1_000_000, 1) and not lap.requires_grad
    torch.testing.assert_close(lap[:100], laplacian(net, q[:100], spatial_dim=2).detach())


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"shape \[\.\.\., Q, D\]"):
        gradient(_f, torch.rand(3))
    with pytest.raises(ValueError, match="floating-point"):
        gradient(_f, torch.ones(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="'spatial_dim' between 1 and 3"):
        laplacian(_f, _coords(), spatial_dim=4)
    with pytest.raises(ValueError, match="'chunk_size' >= 1"):
        map_chunks(_f, _coords(), chunk_size=0)


def test_jacobian_of_precomputed_values() -> None:
    q = _coords().requires_grad_(True)
    values = _f(q)
    torch.testing.assert_close(jacobian_of(values, q), gradient(_f, q.detach()))
