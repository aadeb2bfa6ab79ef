"""MeshGraphNet: the processor block against a dense reference."""

from __future__ import annotations

import torch

from meshfield.models import GraphNetBlock, MeshGraphNet


def test_block_matches_dense_reference() -> None:
    torch.manual_seed(0)
    block = GraphNetBlock(8, edge_chunk=4)
    edge_index = torch.tensor(
        [[0, 1, 1, 2, 2, 3, 0, 3, 0, 2], [1, 0, 2, 1, 3, 2, 3, 0, 2, 0]]
    )
    h, e = torch.randn(4, 8), torch.randn(10, 8)
    h_out, e_out = block(h, e, edge_index)
    src, dst = edge_index
    e_ref = e + block.edge_mlp(torch.cat([e, h[dst], h[src]], dim=-1))
    agg = torch.zeros(4, 8).index_add_(0, dst, e_ref)
    h_ref = h + block.node_mlp(torch.cat([h, agg], dim=-1))
    torch.testing.assert_close(e_out, e_ref)
    torch.testing.assert_close(h_out, h_ref)
    assert repr(block) == "GraphNetBlock(8)"


def test_mlps_end_in_layer_norm() -> None:
    model = MeshGraphNet(field_names=("p",), width=8, num_layers=2)
    assert len(model.processor) == 2
    assert isinstance(model.processor[0].edge_mlp[-1], torch.nn.LayerNorm)
    assert isinstance(model.edge_encoder[-1], torch.nn.LayerNorm)
    assert MeshGraphNet(field_names=("p",)).config.num_layers == 15
