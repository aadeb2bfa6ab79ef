"""Layers: selective state-space (Mamba) mixers, attention over serialized sequences,
conditioning, the hybrid Mamba-attention backbone, node encoders, decoders and the temporal
latent.

Every name loads on first access, so ``import meshfield.nn`` stays cheap and never imports
``mamba_ssm`` or Triton; the CUDA kernels load only inside the layers that use them.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it; resolved on first access
_LAZY: dict[str, str] = {
    # selective state-space models
    "Mamba": "meshfield.nn.ssm",
    "BiMamba": "meshfield.nn.ssm",
    "ssd_chunked": "meshfield.nn.ssm",
    "ssd_reference": "meshfield.nn.ssm",
    "RMSNormGated": "meshfield.nn.ssm",
    "causal_conv1d": "meshfield.nn.ssm",
    # attention over the serialized sequence
    "PatchAttention": "meshfield.nn.attention",
    "LinearAttention": "meshfield.nn.attention",
    "FullAttention": "meshfield.nn.attention",
    # conditioning
    "AdaLNZero": "meshfield.nn.conditioning",
    "FiLM": "meshfield.nn.conditioning",
    "Modulation": "meshfield.nn.conditioning",
    # backbone
    "MambaConfig": "meshfield.nn.backbone",
    "BackboneConfig": "meshfield.nn.backbone",
    "HybridBlock": "meshfield.nn.backbone",
    "HybridBackbone": "meshfield.nn.backbone",
    "BackbonePlan": "meshfield.nn.backbone",
    # encoders, decoders and the temporal latent
    "NodeEncoder": "meshfield.nn.encoder",
    "EdgeGeometry": "meshfield.nn.encoder",
    "MeshConv": "meshfield.nn.encoder",
    "edge_geometry": "meshfield.nn.encoder",
    "fourier_features": "meshfield.nn.encoder",
    "relative_position": "meshfield.nn.encoder",
    "NodeDecoder": "meshfield.nn.decoder",
    "PointQueryDecoder": "meshfield.nn.decoder",
    "knn_indices": "meshfield.nn.decoder",
    "TemporalLatent": "meshfield.nn.temporal",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'meshfield.nn' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
