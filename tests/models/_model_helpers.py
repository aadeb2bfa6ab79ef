"""Tiny meshes with trajectories and tiny model configurations for the model tests."""

from __future__ import annotations

import numpy as np

from meshfield.data import MeshGraph, mesh_graph
from meshfield.models import DecoderConfig, EncoderConfig, HMTConfig
from meshfield.nn import BackboneConfig


def grid_mesh(
    n: int = 8,
    *,
    steps: int = 5,
    seed: int = 0,
    cond: float = 1.0,
    shuffle: bool = True,
) -> MeshGraph:
    """A jittered ``n x n`` triangulated square (shuffled node ids) with a travelling wave.

    ``fields [steps, n*n, 2]``: ``sin(2 pi (x - c t))`` and ``cos(2 pi y) * exp(-t)``, with the
    speed ``c = cond``; boundary tag 1 on x = 0, 2 on the rest of the outline.
    """
    rng = np.random.default_rng(seed)
    ij = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(
        -1, 2
    )
    pos = ij / (n - 1) + rng.uniform(-0.2, 0.2, ij.shape) / (n - 1)
    on_edge = (ij == 0) | (ij == n - 1)
    pos[on_edge] = (ij / (n - 1))[on_edge]
    ids = np.arange(n * n).reshape(n, n)
    a, b, c, d = ids[:-1, :-1], ids[1:, :-1], ids[1:, 1:], ids[:-1, 1:]
    tris = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    )
    boundary = np.where(on_edge.any(1), 2, 0)
    boundary[ij[:, 0] == 0] = 1
    if shuffle:
        perm = rng.permutation(n * n)  # new node k is old node perm[k]
        inverse = np.argsort(perm)
        pos, boundary, tris = pos[perm], boundary[perm], inverse[tris]
    t = np.arange(steps)[:, None] * 0.1
    x, y = pos[None, :, 0], pos[None, :, 1]
    fields = np.stack(
        [np.sin(2 * np.pi * (x - cond * t)), np.cos(2 * np.pi * y) * np.exp(-t)], -1
    )
    return mesh_graph(
        pos,
        {"triangle": tris},
        boundary=boundary,
        fields=fields.astype(np.float32),
        field_names=["u", "v"],
        cond={"c": cond},
    )


def tiny_hmt_config(**options: object) -> HMTConfig:
    """An HMT small enough for a CPU test in well under a second per step."""
    values: dict = {
        "field_names": ("u", "v"),
        "cond_names": ("c",),
        "history": 2,
        "encoder": EncoderConfig(
            fourier_features=2, num_boundary_tags=4, message_passing=1
        ),
        "backbone": BackboneConfig(
            d_model=16,
            pattern="MA",
            patch_size=16,
            num_heads=2,
            mlp_ratio=2.0,
            mamba={"d_state": 8, "headdim": 8, "chunk_size": 16, "backend": "torch"},
        ),
        "d_latent": 8,
        "decoder": DecoderConfig(query_neighbors=4, query_hidden=16),
    }
    values.update(options)
    return HMTConfig(**values)
