from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import Compose

from meshfield.serialize import (
    CURVES,
    Serialization,
    Serialize,
    get_serialization,
    serialization_keys,
    serialize,
)


def assert_same(a: Serialization, b: Serialization) -> None:
    assert a.curve == b.curve and a.depth == b.depth
    assert torch.equal(a.code, b.code)
    assert torch.equal(a.order, b.order)
    assert torch.equal(a.inverse, b.inverse)


def make_graphs(dim: int, sizes: tuple[int, ...] = (9, 1, 40, 23)) -> list[Data]:
    return [
        Data(pos=torch.rand(n, dim) * (g + 1) - g, x=torch.randn(n, 2)) for g, n in enumerate(sizes)
    ]


@pytest.mark.parametrize("dim", [2, 3])
def test_single_graph_stores_serialize(dim: int) -> None:
    data = Serialize()(make_graphs(dim)[2])
    for curve in CURVES:
        assert_same(get_serialization(data, curve), serialize(data.pos, curve=curve))
        assert all(key in data for key in serialization_keys(curve))
    assert data.serial_depth.tolist() == [16 if dim == 3 else 24]


@pytest.mark.parametrize("depth", [None, 7])
@pytest.mark.parametrize("dim", [2, 3])
def test_orders_survive_batching(dim: int, depth: int | None) -> None:
    transform = Serialize(depth=depth)
    graphs = make_graphs(dim)
    batch = Batch.from_data_list([transform(g) for g in graphs])
    for curve in CURVES:
        expected = serialize(batch.pos, batch.batch, curve, depth)
        assert_same(get_serialization(batch, curve), expected)
    # and back: each graph gets its own orders again
    for graph, original in zip(batch.to_data_list(), graphs):
        for curve in CURVES:
            expected = serialize(original.pos, curve=curve, depth=depth)
            assert_same(get_serialization(graph, curve), expected)


def test_data_loader_and_compose() -> None:
    graphs = [Compose([Serialize(curves=("hilbert", "z"))])(g) for g in make_graphs(3)]
    loader = DataLoader(graphs, batch_size=3, shuffle=False)
    for batch in loader:
        for curve in ("hilbert", "z"):
            assert_same(get_serialization(batch, curve), serialize(batch.pos, batch.batch, curve))
        assert serialization_keys("hilbert-trans")[1] not in batch


def test_missing_or_other_depth_recomputes() -> None:
    batch = Batch.from_data_list([Serialize(curves="z")(g) for g in make_graphs(2)])
    assert_same(get_serialization(batch, "hilbert"), serialize(batch.pos, batch.batch, "hilbert"))
    assert_same(
        get_serialization(batch, "z", depth=5), serialize(batch.pos, batch.batch, "z", depth=5)
    )
    plain = make_graphs(3)[0]
    assert_same(get_serialization(plain, "z-trans"), serialize(plain.pos, curve="z-trans"))


def test_mixed_depths_need_an_explicit_depth() -> None:
    a, b = make_graphs(3)[:2]
    batch = Batch.from_data_list([Serialize(depth=5)(a), Serialize(depth=6)(b)])
    with pytest.raises(ValueError, match="different depths"):
        get_serialization(batch, "hilbert")
    assert get_serialization(batch, "hilbert", depth=6).depth == 6


def test_transform_on_a_batch() -> None:
    batch = Serialize()(Batch.from_data_list(make_graphs(3)))
    for curve in CURVES:
        assert_same(get_serialization(batch, curve), serialize(batch.pos, batch.batch, curve))


def test_errors_and_repr() -> None:
    with pytest.raises(ValueError, match="Unknown curve"):
        Serialize(curves=("hilbert", "spiral"))
    with pytest.raises(ValueError, match="distinct"):
        Serialize(curves=("z", "z"))
    with pytest.raises(ValueError, match="'pos'"):
        Serialize()(Data(x=torch.rand(3, 2)))
    with pytest.raises(ValueError, match="depth"):
        Serialize(depth=30)(Data(pos=torch.rand(3, 3)))
    assert repr(Serialize(curves=("z",), depth=4)) == "Serialize(curves=('z',), depth=4)"
