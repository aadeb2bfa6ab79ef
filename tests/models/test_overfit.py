"""Every model can fit one tiny trajectory (one-step loss falls by 100x)."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import grid_mesh, tiny_hmt_config
from torch_geometric.data import Batch

from meshfield.models import HMT, FieldModel, MeshGraphNet, Transformer


def _fit(model: FieldModel, steps: int) -> tuple[float, float]:
    mesh = grid_mesh(6, steps=6)
    model.normalizer.fit([mesh])
    history = model.history
    # every window of history + 1 frames is one graph of a batch, as a trainer would do it
    windows = []
    for t in range(history, mesh.fields.size(0)):
        window = mesh.clone()
        window.fields = mesh.fields[t - history : t + 1]
        windows.append(window)
    batch = Batch.from_data_list(windows)
    context = model.prepare(batch)
    target = model.normalizer.normalize_delta(batch.fields[-2], batch.fields[-1])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        out = model(batch, batch.fields[:-1], context=context)
        loss = (out.delta - target).square().mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[0], min(losses[-10:])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hmt", "meshgraphnet", "transformer"])
def test_overfit_one_trajectory(name: str) -> None:
    torch.manual_seed(0)
    common = {
        "field_names": ("u", "v"),
        "cond_names": ("c",),
        "history": 2,
        "width": 16,
    }
    model = {
        "hmt": lambda: HMT(tiny_hmt_config()),
        "meshgraphnet": lambda: MeshGraphNet(num_layers=3, **common),
        "transformer": lambda: Transformer(num_layers=2, num_heads=2, **common),
    }[name]()
    first, last = _fit(model, 300)
    assert last < first / 100, (first, last)
