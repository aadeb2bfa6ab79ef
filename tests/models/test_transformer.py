"""The plain transformer baseline."""

from __future__ import annotations

import torch

from meshfield.models import Transformer
from meshfield.nn import FullAttention, LinearAttention


def test_attention_kinds() -> None:
    linear = Transformer(field_names=("p",), width=8, num_heads=2, num_layers=2)
    full = Transformer(
        field_names=("p",), width=8, num_heads=2, num_layers=2, attention="full"
    )
    assert all(isinstance(b.mixer, LinearAttention) for b in linear.blocks)
    assert all(isinstance(b.mixer, FullAttention) for b in full.blocks)
    assert len(linear.encoder.convs) == 0  # sees the nodes, not the mesh edges


def test_output_does_not_depend_on_edges(mesh) -> None:
    model = Transformer(
        field_names=("u", "v"), cond_names=("c",), width=8, num_heads=2
    ).eval()
    with torch.no_grad():
        a = model(mesh).fields
        mesh.edge_index = mesh.edge_index[:, :10]
        b = model(mesh).fields
    torch.testing.assert_close(a, b)
