from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from meshfield.testing import assert_permutation_equivariant


class NeighbourMean(torch.nn.Module):
    """Equivariant: a node-wise linear map plus the mean over the mesh neighbours."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        src, dst = edge_index
        return self.lin(x) + scatter(x[src], dst, dim=0, dim_size=x.size(0), reduce="mean")


def _graph() -> Data:
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 0, 4], [1, 0, 2, 1, 3, 2, 4, 3, 4, 0]])
    return Data(
        x=torch.randn(5, 3),
        pos=torch.rand(5, 2),
        edge_index=edge_index,
        fields=torch.randn(4, 5, 2),
    )


def test_equivariant_model_passes_on_data_and_mapping() -> None:
    model = NeighbourMean()
    data = _graph()
    assert_permutation_equivariant(lambda d: model(d.x, d.edge_index), data)
    assert_permutation_equivariant(model, {"x": data.x, "edge_index": data.edge_index})


def test_edge_index_is_renamed_not_reordered() -> None:
    data = _graph()
    seen: list[Data] = []

    def record(d: Data) -> Tensor:
        seen.append(d)
        return d.x

    perm = torch.tensor([4, 2, 0, 1, 3])
    assert_permutation_equivariant(record, data, perm=perm)
    permuted = seen[1]
    torch.testing.assert_close(permuted.x, data.x[perm])
    # edge (perm[i], perm[j]) of the original is edge (i, j) of the permuted graph
    torch.testing.assert_close(perm[permuted.edge_index], data.edge_index)


def test_graph_level_outputs_must_be_invariant() -> None:
    data = _graph()
    assert_permutation_equivariant(lambda d: (d.x * 2, d.x.sum(0)), data)
    with pytest.raises(AssertionError, match=r"output\[1\]"):
        assert_permutation_equivariant(lambda d: (d.x, d.x[0]), data)


def test_order_dependent_model_fails() -> None:
    data = _graph()
    with pytest.raises(AssertionError, match="not permutation equivariant"):
        assert_permutation_equivariant(lambda d: d.x.cumsum(0), data)
    with pytest.raises(AssertionError):
        assert_permutation_equivariant(lambda x: x.flip(0), {"x": torch.randn(6, 2)})


def test_explicit_node_keys_leave_graph_inputs_alone() -> None:
    x = torch.randn(4, 2)
    cond = torch.randn(4, 2)  # as many graphs as nodes: inference would take it for node data

    def model(x: Tensor, batch: Tensor, cond: Tensor) -> Tensor:
        return x + cond[batch]

    batch = torch.arange(4)
    assert_permutation_equivariant(
        model, {"x": x, "batch": batch, "cond": cond}, node_keys=["x", "batch"]
    )
    with pytest.raises(AssertionError):
        assert_permutation_equivariant(model, {"x": x, "batch": batch, "cond": cond})


class NodeDropout(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.lin(x))


def test_module_runs_in_eval_mode_and_mode_is_restored() -> None:
    model = NodeDropout().train()
    assert_permutation_equivariant(model, {"x": torch.randn(8, 3)})
    assert model.training


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="Data or a mapping"):
        assert_permutation_equivariant(lambda x: x, torch.randn(3, 2))
    with pytest.raises(ValueError, match="permutation of 3 nodes"):
        assert_permutation_equivariant(
            lambda x: x, {"x": torch.randn(3, 2)}, perm=torch.tensor([0, 0, 1])
        )
