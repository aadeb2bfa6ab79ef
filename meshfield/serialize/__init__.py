"""Space-filling-curve serialization of mesh nodes.

Nodes are quantized per graph to an integer grid, encoded along a Hilbert or Z-order curve (or
their transposed variants), the graph index is packed into the high bits of the code, and a
stable sort gives the sequence order and its inverse (:func:`serialize`). :func:`patch` cuts
the sequence into fixed-size patches that never mix graphs, for patch attention.
:class:`Serialize` stores the orders on a PyG graph once, in a form that survives batching.

References
----------
X. Wu et al., "Point Transformer V3: Simpler, Faster, Stronger", CVPR 2024.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from meshfield.serialize.curves import CURVES, MAX_DEPTH, decode, encode
from meshfield.serialize.locality import edge_span, mean_edge_span, neighbor_window_fraction
from meshfield.serialize.patch import Patching, patch
from meshfield.serialize.serialization import (
    DEFAULT_DEPTH,
    Serialization,
    default_depth,
    quantize,
    serialize,
)

if TYPE_CHECKING:
    from meshfield.serialize.transform import Serialize, get_serialization, serialization_keys

# the PyG transform loads torch_geometric, so it is imported on first use
_LAZY: dict[str, str] = {
    "Serialize": "meshfield.serialize.transform",
    "get_serialization": "meshfield.serialize.transform",
    "serialization_keys": "meshfield.serialize.transform",
}

__all__ = [
    "CURVES",
    "DEFAULT_DEPTH",
    "MAX_DEPTH",
    "Patching",
    "Serialization",
    "Serialize",
    "decode",
    "default_depth",
    "edge_span",
    "encode",
    "get_serialization",
    "mean_edge_span",
    "neighbor_window_fraction",
    "patch",
    "quantize",
    "serialization_keys",
    "serialize",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'meshfield.serialize' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
