"""Attention over serialized node sequences in flattened PyG layout (``x [L, D]``, ``batch [L]``).

- :class:`PatchAttention`: softmax inside patches of consecutive tokens, :math:`O(L K)`.
- :class:`LinearAttention`: Galerkin-type global attention per graph, :math:`O(L)`.
- :class:`FullAttention`: softmax over whole graphs, :math:`O(L^2)`, for small meshes.

All three keep the graphs of a batch apart.
"""

from __future__ import annotations

from meshfield.nn.attention.full import FullAttention
from meshfield.nn.attention.linear import LinearAttention
from meshfield.nn.attention.patch import PatchAttention

__all__ = ["FullAttention", "LinearAttention", "PatchAttention"]
