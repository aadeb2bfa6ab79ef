"""The node encoder and its message-passing layer."""

from __future__ import annotations

import math

import pytest
import torch

from meshfield.nn import MeshConv, NodeEncoder
from meshfield.nn.encoder import (
    edge_geometry,
    fourier_features,
    message_sum,
    relative_position,
)
from meshfield.testing import assert_permutation_equivariant


def _ring(n: int) -> torch.Tensor:
    src = torch.arange(n)
    dst = (src + 1) % n
    return torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)


def test_fourier_features() -> None:
    pos = torch.tensor([[0.25, 0.5]])
    out = fourier_features(pos, 2)
    angles = [math.pi * 0.25, math.pi * 0.5, 2 * math.pi * 0.25, 2 * math.pi * 0.5]
    expected = [math.sin(a) for a in angles] + [math.cos(a) for a in angles]
    torch.testing.assert_close(out, torch.tensor([expected]))
    assert fourier_features(pos, 0).shape == (1, 0)


def test_relative_position() -> None:
    out = relative_position(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
    assert out.tolist() == [[3.0, 4.0, 5.0]]


def test_mesh_conv_matches_dense_reference() -> None:
    torch.manual_seed(0)
    conv = MeshConv(8, edge_chunk=3)  # several chunks
    h, pos, edge_index = torch.randn(6, 8), torch.rand(6, 2), _ring(6)
    out = conv(h, pos, edge_index)
    expected = torch.empty_like(h)
    for i in range(6):
        neighbours = edge_index[0, edge_index[1] == i]
        messages = [
            conv.message_mlp(
                torch.cat([h[i], h[j], relative_position(pos[i], pos[j]).flatten()])
            )
            for j in neighbours
        ]
        mean = torch.stack(messages).mean(0)
        expected[i] = h[i] + conv.update_mlp(conv.norm(torch.cat([h[i], mean])))
    torch.testing.assert_close(out, expected)


def _plain_message_sum(target, source, features, weight, edge_index):  # type: ignore[no-untyped-def]
    src, dst = edge_index
    z = target[dst] + source[src] + features @ weight.t()
    out = torch.zeros_like(target)
    for k in range(z.size(0)):  # one edge at a time: no shared code with message_sum
        out[dst[k]] += torch.nn.functional.silu(z[k])
    return out


def test_message_sum_in_blocks_matches_edge_by_edge() -> None:
    torch.manual_seed(0)
    n, d, f = 7, 5, 3
    edge_index = torch.randint(0, n - 1, (2, 23))  # node n - 1 receives nothing
    target = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    source = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(d, f, dtype=torch.float64, requires_grad=True)
    features = torch.randn(23, f, dtype=torch.float64)
    expected = _plain_message_sum(target, source, features, weight, edge_index)
    out = message_sum(target, source, features, weight, edge_index, block=4)  # 6 blocks
    torch.testing.assert_close(out, expected)
    assert out[n - 1].abs().max() == 0
    grads = torch.autograd.grad(out.sin().sum(), (target, source, weight))
    expected_grads = torch.autograd.grad(expected.sin().sum(), (target, source, weight))
    for grad, reference in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, reference)

    def fused(t, s, w):  # type: ignore[no-untyped-def]
        return message_sum(t, s, features, w, edge_index, block=5)

    # first and second derivatives (physics losses differentiate gradients again)
    assert torch.autograd.gradcheck(fused, (target, source, weight))
    assert torch.autograd.gradgradcheck(fused, (target, source, weight))
    with torch.no_grad():
        torch.testing.assert_close(
            message_sum(target, source, features, weight, edge_index, block=3), expected
        )


def test_message_sum_differentiates_the_edge_features() -> None:
    # edge features that need a gradient (positions being differentiated) take the plain path
    torch.manual_seed(0)
    edge_index = torch.randint(0, 6, (2, 15))
    target, source = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    weight = torch.randn(4, 3, dtype=torch.float64)
    features = torch.randn(15, 3, dtype=torch.float64, requires_grad=True)
    out = message_sum(target, source, features, weight, edge_index, block=4)
    (grad,) = torch.autograd.grad(out.square().sum(), features)
    expected = _plain_message_sum(target, source, features, weight, edge_index)
    (expected_grad,) = torch.autograd.grad(expected.square().sum(), features)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, expected_grad)


def test_mesh_conv_node_without_edges_and_cached_geometry() -> None:
    # node 5 has no incoming edge: its mean message is 0, not the second layer's bias
    torch.manual_seed(0)
    conv = MeshConv(8)
    for param in conv.parameters():
        torch.nn.init.normal_(param, std=0.5)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 0, 0]])
    h, pos = torch.randn(6, 8), torch.rand(6, 2)
    out = conv(h, pos, edge_index)
    expected = h[5] + conv.update_mlp(conv.norm(torch.cat([h[5], torch.zeros(8)])))
    torch.testing.assert_close(out[5], expected)
    geometry = edge_geometry(pos, edge_index)
    assert geometry.has_neighbours.flatten().tolist() == [1, 1, 1, 1, 1, 0]
    assert geometry.inverse_degree.flatten().tolist() == [0.5, 1, 1, 1, 1, 1]
    # the geometry made once per mesh gives the same step, values and gradients
    h.requires_grad_(True)
    fresh = conv(h, pos, edge_index)
    (grad_fresh,) = torch.autograd.grad(fresh.square().sum(), h)
    cached = conv(h, pos, edge_index, geometry=geometry)
    (grad_cached,) = torch.autograd.grad(cached.square().sum(), h)
    torch.testing.assert_close(cached, fresh)
    torch.testing.assert_close(grad_cached, grad_fresh)


def test_encoder_shapes_and_equivariance() -> None:
    torch.manual_seed(0)
    encoder = NodeEncoder(3, 16, num_cond=2, fourier_features=3, message_passing=2)
    inputs = {
        "inputs": torch.randn(12, 3),
        "pos": torch.rand(12, 2),
        "boundary": torch.randint(0, 3, (12,)),
        "edge_index": _ring(12),
        "cond": torch.randn(1, 2),
    }
    assert encoder(**inputs).shape == (12, 16)
    assert_permutation_equivariant(
        encoder,
        inputs,
        node_keys=["inputs", "pos", "boundary"],
        index_keys=["edge_index"],
    )


def test_encoder_uses_each_input() -> None:
    torch.manual_seed(0)
    encoder = NodeEncoder(1, 8, num_cond=1, message_passing=1)
    base = (
        torch.zeros(4, 1),
        torch.rand(4, 2),
        torch.zeros(4, dtype=torch.long),
        _ring(4),
        torch.zeros(1, 1),
    )
    reference = encoder(*base)
    for position, changed in [
        (0, torch.ones(4, 1)),
        (1, torch.rand(4, 2)),
        (2, torch.ones(4, dtype=torch.long)),
        (4, torch.ones(1, 1)),
    ]:
        args = list(base)
        args[position] = changed
        assert not torch.allclose(encoder(*args), reference), position


def test_encoder_without_positions_or_conditions() -> None:
    encoder = NodeEncoder(0, 8, position=False, message_passing=0)
    out = encoder(
        torch.zeros(5, 0), torch.rand(5, 2), torch.tensor([0, 1, 1, 0, 2]), _ring(5)
    )
    assert out.shape == (5, 8)


def test_encoder_errors() -> None:
    encoder = NodeEncoder(2, 8, num_cond=1, num_boundary_tags=3)
    with pytest.raises(
        ValueError, match=r"'inputs' tensor with shape \[num_nodes, 2\]"
    ):
        encoder(
            torch.zeros(5, 3),
            torch.rand(5, 2),
            torch.zeros(5, dtype=torch.long),
            _ring(5),
            torch.zeros(1, 1),
        )
    with pytest.raises(ValueError, match=r"'cond' tensor with shape \[num_graphs, 1\]"):
        encoder(
            torch.zeros(5, 2),
            torch.rand(5, 2),
            torch.zeros(5, dtype=torch.long),
            _ring(5),
        )
    with pytest.raises(ValueError, match=r"Boundary tags must be in \[0, 3\)"):
        encoder.check_boundary(torch.tensor([0, 3]))
    assert repr(encoder) == "NodeEncoder(2, 8, dim=2, num_cond=1, message_passing=2)"
