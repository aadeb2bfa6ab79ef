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


def test_checkpointed_processor_gives_the_same_values_and_gradients(mesh) -> None:
    torch.manual_seed(0)
    plain = MeshGraphNet(
        field_names=("u", "v"), cond_names=("c",), width=16, num_layers=3
    )
    recomputed = MeshGraphNet(plain.config, checkpoint=True)
    recomputed.load_state_dict(plain.state_dict())
    plain.normalizer.fit([mesh])
    recomputed.normalizer.fit([mesh])
    grads = []
    for model in (plain, recomputed):
        out = model(mesh, mesh.fields[:1])
        out.delta.square().sum().backward()
        grads.append([p.grad.clone() for p in model.processor.parameters()])
        values = out.delta.detach()
        if model is plain:
            reference = values
    torch.testing.assert_close(values, reference)
    assert all(g.abs().sum() > 0 for g in grads[0])
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b)
    # the recomputation keeps fewer tensors for the backward pass
    saved = []
    for model in (plain, recomputed):
        count = [0]

        def pack(t, count=count):
            count[0] += t.numel()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(mesh, mesh.fields[:1]).delta.sum()
        saved.append(count[0])
    assert saved[1] < saved[0] / 2
