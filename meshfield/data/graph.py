"""The graph type of meshfield."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from meshfield.data.cells import is_cell_type

__all__ = ["MeshGraph"]

# Graph-level keys: one value per graph, stacked to [B, ...] by Batch.from_data_list.
_GRAPH_LEVEL = frozenset({"times", "cond"})


class MeshGraph(Data):
    r"""A mesh as a PyTorch Geometric graph.

    A :class:`torch_geometric.data.Data` whose reserved keys (``pos``, ``cells``, ``edge_index``,
    ``boundary``, ``fields``, ...) are documented in :mod:`meshfield.data.keys` and checked by
    :func:`meshfield.data.validate`. Build one with :func:`meshfield.data.mesh_graph` or a reader
    in :mod:`meshfield.io`.

    The class only changes how graphs are batched, so that
    :meth:`torch_geometric.data.Batch.from_data_list` gives one valid mesh:

    * ``cells[type]`` (integer ``[n_cells, k]``) is concatenated along cells and its node
      indices are shifted like ``edge_index``. PyG collates a dict attribute per entry and asks
      :meth:`__inc__` / :meth:`__cat_dim__` with the entry's name (the cell type), so integer
      tensors under a cell-type name are taken as connectivity, floating ones (the entries of
      ``cell_fields``, ``[T, n_cells, C]``) as cell data concatenated along cells.
    * ``fields`` ``[T, N, C]`` is concatenated along nodes (dim 1); all graphs of a batch need
      the same ``T`` and ``C``.
    * ``times`` ``[T]`` and ``cond`` ``[K]`` are stacked to ``[B, T]`` and ``[B, K]``.
    * Lists of names (``field_names``, ``boundary_names``, ...) become a list with one entry per
      graph, as for any non-tensor attribute.

    PyG takes the cell types of the first graph of a batch; batch graphs with the same cell
    types.

    Example
    -------
    >>> from torch_geometric.data import Batch
    >>> from meshfield.data import mesh_graph
    >>> g = mesh_graph([[0, 0], [1, 0], [0, 1]], {"triangle": [[0, 1, 2]]})
    >>> Batch.from_data_list([g, g]).cells["triangle"].tolist()
    [[0, 1, 2], [3, 4, 5]]
    """

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_connectivity(key, value):
            return self.num_nodes
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key == "fields":
            return 1
        if key in _GRAPH_LEVEL:
            return None
        if isinstance(value, Tensor) and is_cell_type(key):
            # connectivity [n_cells, k] or cell data [T, n_cells, C]: both along cells
            return 0 if _is_connectivity(key, value) else 1
        return super().__cat_dim__(key, value, *args, **kwargs)

    @property
    def num_cells(self) -> int:
        """Total number of cells over all cell types (0 without ``cells``)."""
        cells = self.get("cells")
        if not cells:
            return 0
        return sum(int(c.shape[0]) for c in cells.values())


def _is_connectivity(key: str, value: Any) -> bool:
    return (
        isinstance(value, Tensor)
        and not torch.is_floating_point(value)
        and value.dim() == 2
        and is_cell_type(key)
    )
