"""MeshDataset over the datagen layout, and the normalization statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

import meshfield
from meshfield.cases.datagen import datagen
from meshfield.data import FieldStats, MeshDataset, MeshGraph, compute_stats, load_dataset
from meshfield.data.store import save_graph
from meshfield.errors import MeshFileNotFoundError, MeshValidationError, SpecError

SPEC = {
    "case": "taylor_green",
    "mesh": {"generator": "periodic_grid", "params": {"n": 8}},
    "pde": {"name": "navier_stokes", "constants": {"rho": 1.0}},
    "conditions": {"nu": {"units": "m^2/s", "train": [0.01, 0.05, 0.2], "test": [0.1]}},
    "time": {"spin_up": 0.0, "end": 1.0, "interval": 0.5},
    "fields": {"U": "m/s", "p": "Pa"},
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return datagen(SPEC, tmp_path_factory.mktemp("tg"), progress=False)


def test_load_dataset_reads_each_split(root: Path) -> None:
    train = load_dataset(root)
    assert isinstance(train, MeshDataset)
    assert len(train) == 3 and train.split == "train"
    assert train.run_ids == ["nu=0.01", "nu=0.05", "nu=0.2"]
    assert train.field_names == ["U_x", "U_y", "p"]
    assert train.field_units == ["m/s", "m/s", "Pa"]
    assert train.cond_names == ["nu"]
    graph = train[1]
    assert isinstance(graph, MeshGraph)
    assert graph.fields.shape == (3, 64, 3)
    assert graph.run_id == "nu=0.05" and graph.split == "train"
    assert float(graph.cond[0]) == pytest.approx(0.05)
    assert len(load_dataset(root, split="test")) == 1
    assert meshfield.load_dataset is load_dataset
    assert "runs=3" in repr(train)


def test_items_batch_with_pyg(root: Path) -> None:
    train = load_dataset(root)
    batch = next(iter(DataLoader(train, batch_size=2)))
    assert isinstance(batch, Batch)
    assert batch.fields.shape == (3, 128, 3)
    assert batch.cond.shape == (2, 1)
    assert len(train[1:]) == 2


def test_transform_is_applied(root: Path) -> None:
    def last_step(graph: MeshGraph) -> MeshGraph:
        graph.fields = graph.fields[-1:]
        return graph

    assert load_dataset(root, transform=last_step)[0].fields.shape == (1, 64, 3)


def test_missing_split_and_folder(root: Path, tmp_path: Path) -> None:
    with pytest.raises(
        SpecError, match=r"split 'val' not in the dataset \(it has \['train', 'test'\]\)"
    ):
        load_dataset(root, split="val")
    with pytest.raises(MeshFileNotFoundError, match="no such dataset folder"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(MeshFileNotFoundError, match="no runs of split 'train'"):
        load_dataset(tmp_path)


def test_folder_without_index_reads_the_files(root: Path, tmp_path: Path) -> None:
    for i, graph in enumerate(load_dataset(root)):
        save_graph(graph, tmp_path / "train" / f"run{i}.safetensors")
    partial = load_dataset(tmp_path)
    assert partial.run_ids == ["run0", "run1", "run2"]
    assert partial.field_names == []  # names come from the index


def test_listed_run_missing_is_reported(root: Path, tmp_path: Path) -> None:
    index = json.loads((root / "index.json").read_text())
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(MeshFileNotFoundError, match="3 run\\(s\\) of train listed in index.json"):
        load_dataset(tmp_path)


def test_compute_stats_matches_a_direct_computation(root: Path) -> None:
    train = load_dataset(root)
    stats = compute_stats(train)
    everything = torch.cat([g.fields.double().reshape(-1, 3) for g in train])
    torch.testing.assert_close(torch.tensor(stats.mean, dtype=torch.float64), everything.mean(0))
    torch.testing.assert_close(
        torch.tensor(stats.std, dtype=torch.float64), everything.std(0, correction=0)
    )
    assert stats.count == everything.shape[0]
    assert stats.field_names == ("U_x", "U_y", "p")
    assert stats.cond_names == ("nu",)
    assert stats.cond_mean[0] == pytest.approx((0.01 + 0.05 + 0.2) / 3)


def test_compute_stats_is_stable_under_a_large_offset() -> None:
    graphs = []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        graph = MeshGraph(fields=1e6 + torch.randn(4, 50, 1, generator=g, dtype=torch.float64))
        graph.field_names = ["T"]
        graphs.append(graph)
    stats = compute_stats(graphs)
    direct = torch.cat([g.fields.reshape(-1) for g in graphs])
    assert stats.std[0] == pytest.approx(float(direct.std(correction=0)), rel=1e-9)


def test_field_stats_json_and_normalization(root: Path, tmp_path: Path) -> None:
    stats = compute_stats(load_dataset(root))
    path = stats.save(tmp_path / "stats.json")
    assert FieldStats.load(path) == stats
    json.loads(path.read_text())  # plain JSON
    fields = load_dataset(root)[0].fields
    normalized = stats.normalize(fields)
    torch.testing.assert_close(stats.denormalize(normalized), fields)
    flat = FieldStats(field_names=("a",), mean=(2.0,), std=(0.0,))
    # a constant channel is shifted, not divided by zero
    assert torch.equal(flat.normalize(torch.full((1, 3, 1), 2.0)), torch.zeros(1, 3, 1))


def test_compute_stats_errors() -> None:
    with pytest.raises(MeshValidationError, match="at least one graph"):
        compute_stats([])
    a = MeshGraph(fields=torch.zeros(1, 2, 1), field_names=["T"])
    b = MeshGraph(fields=torch.zeros(1, 2, 1), field_names=["p"])
    with pytest.raises(MeshValidationError, match="same channels"):
        compute_stats([a, b])


def test_several_folders_make_one_dataset(root: Path, tmp_path: Path) -> None:
    # the same case on a finer grid: its runs follow those of the first folder
    finer = dict(SPEC, mesh={"generator": "periodic_grid", "params": {"n": 12}})
    other = datagen(finer, tmp_path / "fine", progress=False)
    joined = load_dataset([root, other])
    assert len(joined) == 6
    assert joined.run_ids[:3] == [f"{root.name}/nu=0.01", f"{root.name}/nu=0.05", f"{root.name}/nu=0.2"]
    assert joined.run_ids[3] == "fine/nu=0.01"
    assert [g.num_nodes for g in joined] == [64] * 3 + [144] * 3
    assert joined.field_names == ["U_x", "U_y", "p"] and joined.cond_names == ["nu"]
    # one folder in a list is the plain dataset
    assert load_dataset([root]).run_ids == load_dataset(root).run_ids


def test_joined_folders_must_agree(root: Path, tmp_path: Path) -> None:
    by_re = dict(SPEC, conditions={"Re": {"units": "1", "train": [10.0], "test": [20.0]}})
    other = datagen(by_re, tmp_path / "re", progress=False)
    with pytest.raises(SpecError, match=r"re: fields .* conditions \['Re'\] differ from those of"):
        load_dataset([root, other])
    with pytest.raises(ValueError, match="at least one dataset folder"):
        MeshDataset([])
    with pytest.raises(MeshFileNotFoundError, match="nowhere: no such dataset folder"):
        load_dataset([root, tmp_path / "nowhere"])
