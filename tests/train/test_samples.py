"""Training windows: which frames, lazily from files, deterministic noise, batching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from meshfield.data import load_dataset, mesh_graph
from meshfield.train import TrajectoryWindows, collate_windows


def _trajectory(frames: int, nodes: int = 4, offset: float = 0.0, cond: float = 1.0):
    """Frame t holds the value offset + t at every node (channel 0) and -t (channel 1)."""
    t = torch.arange(frames, dtype=torch.float32)[:, None, None].expand(frames, nodes, 1)
    fields = torch.cat([t + offset, -t], dim=-1)
    pos = torch.rand(nodes, 2)
    cells = {"triangle": [[i, i + 1, i + 2] for i in range(nodes - 2)]}
    return mesh_graph(pos, cells, fields=fields, field_names=["a", "b"], cond={"c": cond})


def test_windows_hold_history_then_targets() -> None:
    windows = TrajectoryWindows(
        [_trajectory(6), _trajectory(4, offset=100.0)], history=2, horizon=2
    )
    # T - h - k + 1 windows per trajectory: 3 and 1
    assert len(windows) == 4
    assert windows.index == [(0, 0), (0, 1), (0, 2), (1, 0)]
    starts = [windows[i].fields[:, 0, 0].tolist() for i in range(4)]
    assert starts == [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [100, 101, 102, 103]]
    last = windows[-1]
    assert last.run == 1 and last.start == 0
    assert torch.equal(last.initial, _trajectory(4, offset=100.0).fields[0])
    assert last.cond.tolist() == [1.0] and "noise" not in last


def test_stride_and_too_short() -> None:
    windows = TrajectoryWindows([_trajectory(9)], history=1, horizon=1, stride=3)
    assert [start for _, start in windows.index] == [0, 3, 6]
    with pytest.raises(ValueError, match="fewer than history"):
        TrajectoryWindows([_trajectory(3)], history=2, horizon=2)


def test_noise_depends_on_seed_epoch_and_index_only() -> None:
    graphs = [_trajectory(5)]
    a = TrajectoryWindows(graphs, history=2, noise=True, seed=3)
    b = TrajectoryWindows(graphs, history=2, noise=True, seed=3)
    assert a[1].noise.shape == (2, 4, 2)
    assert torch.equal(a[1].noise, b[1].noise)  # another process or worker draws the same
    assert not torch.equal(a[1].noise, a[0].noise)
    b.set_epoch(1)
    assert not torch.equal(a[1].noise, b[1].noise)
    a.set_epoch(1)
    assert torch.equal(a[1].noise, b[1].noise)
    assert abs(float(torch.cat([a[i].noise for i in range(3)]).std()) - 1) < 0.5


def test_collate_concatenates_along_nodes() -> None:
    windows = TrajectoryWindows(
        [_trajectory(5, nodes=4), _trajectory(5, nodes=6, cond=2.0)], 2, noise=True
    )
    batch = collate_windows([windows[0], windows[len(windows) - 1]])
    assert batch.num_graphs == 2
    assert batch.fields.shape == (3, 10, 2) and batch.noise.shape == (2, 10, 2)
    assert batch.initial.shape == (10, 2)
    assert batch.cond.tolist() == [[1.0], [2.0]]
    assert batch.batch.tolist() == [0] * 4 + [1] * 6
    assert int(batch.edge_index[:, batch.batch[batch.edge_index[0]] == 1].min()) >= 4
    with pytest.raises(ValueError, match="at least one window"):
        collate_windows([])


def test_lazy_windows_of_a_dataset(heat_data: Path) -> None:
    dataset = load_dataset(heat_data, "train")
    windows = TrajectoryWindows(dataset, history=2, horizon=1, cache_runs=1)
    assert windows.frames == [7, 7, 7]  # read from the file headers
    assert len(windows) == 3 * 5
    window = windows[6]  # run 1, start 1
    graph = dataset[1]
    assert torch.equal(window.fields, graph.fields[1:4])
    assert torch.equal(window.edge_index, graph.edge_index)
    assert len(windows._cache) == 1
