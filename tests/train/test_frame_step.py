"""A model step of several snapshots (``frame_step``): windows, statistics, training, rollouts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import meshfield
from meshfield.checkpoint import CheckpointInfo, load_model
from meshfield.data import load_dataset, mesh_graph
from meshfield.evaluate import evaluate
from meshfield.models import build_model
from meshfield.train import TrainConfig, TrajectoryStreams, TrajectoryWindows, train
from meshfield.train.validation import at_model_step


def _trajectory(frames: int, nodes: int = 4):
    """Frame t holds t at every node (channel 0) and -2 t (channel 1)."""
    t = torch.arange(frames, dtype=torch.float32)[:, None, None].expand(frames, nodes, 1)
    fields = torch.cat([t, -2 * t], dim=-1)
    pos = torch.rand(nodes, 2)
    cells = {"triangle": [[i, i + 1, i + 2] for i in range(nodes - 2)]}
    graph = mesh_graph(pos, cells, fields=fields, field_names=["a", "b"], cond={"c": 1.0})
    graph.times = 0.5 * torch.arange(frames, dtype=torch.float64)
    return graph


def test_windows_take_every_kth_frame_from_every_start() -> None:
    windows = TrajectoryWindows([_trajectory(10)], history=1, horizon=2, frame_step=3)
    # a window spans (1 + 2 - 1) * 3 + 1 = 7 snapshots: starts 0 .. 3, all phases
    assert [start for _, start in windows.index] == [0, 1, 2, 3]
    assert windows[1].fields[:, 0, 0].tolist() == [1.0, 4.0, 7.0]
    assert windows[3].fields[:, 0, 0].tolist() == [3.0, 6.0, 9.0]
    with pytest.raises(ValueError, match=r"4 frames 3 snapshots apart \(10 frames\)"):
        TrajectoryWindows([_trajectory(9)], history=1, horizon=3, frame_step=3)
    with pytest.raises(ValueError, match="frame_step"):
        TrajectoryWindows([_trajectory(9)], history=1, frame_step=0)


def test_warmup_frames_are_model_steps_apart() -> None:
    windows = TrajectoryWindows([_trajectory(12)], history=1, horizon=1, frame_step=3, warmup=2)
    by_start = {start: i for i, (_, start) in enumerate(windows.index)}
    full = windows[by_start[6]]  # two whole model steps before it: frames 0 and 3
    assert full.warmup_steps == 2 and full.warmup[:, 0, 0].tolist() == [0.0, 3.0]
    short = windows[by_start[4]]  # one step before it (frame 1), then padding
    assert short.warmup_steps == 1 and short.warmup[:, 0, 0].tolist() == [1.0, 1.0]


def test_streams_walk_whole_model_steps() -> None:
    windows = TrajectoryWindows([_trajectory(30)], history=1, horizon=2, frame_step=3)
    streams = TrajectoryStreams(windows, streams=1, stride=2, batches=4, seed=1)
    starts = [windows.index[i][1] for i in streams]
    # the next window starts where the last one's 2-step unroll ended: 2 * 3 frames later
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [6, 6, 6]


def test_normalizer_increments_over_one_model_step() -> None:
    model = build_model("meshgraphnet", field_names=("a", "b"), cond_names=("c",), width=8,
                        num_layers=1, frame_step=3)
    assert model.frame_step == 3
    model.normalizer.fit([_trajectory(10)], frame_step=model.frame_step)
    assert model.normalizer.delta_mean.tolist() == pytest.approx([3.0, -6.0])
    with pytest.raises(ValueError, match="frame_step"):
        build_model("meshgraphnet", field_names=("a",), frame_step=0)


def test_at_model_step_keeps_the_graph() -> None:
    graph = _trajectory(7)
    model = build_model("meshgraphnet", field_names=("a", "b"), cond_names=("c",), width=8,
                        num_layers=1, frame_step=2)
    view = at_model_step(graph, model)
    assert view.fields[:, 0, 0].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert view.times.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert graph.fields.size(0) == 7 and graph.times.numel() == 7  # unchanged
    assert at_model_step(graph, build_model("meshgraphnet", field_names=("a", "b"))) is graph


def test_checkpoint_info_times_at_the_model_step() -> None:
    spec = {"time": {"spin_up": 25.0, "end": 44.8, "interval": 0.2}}
    info = CheckpointInfo.from_dict({"data_spec": spec, "config": {"frame_step": 3}})
    assert info.frame_step == 3
    assert info.step_interval == pytest.approx(0.6)
    assert info.num_frames == 34  # snapshots 0, 3, ..., 99 of 100
    assert info.times(3).tolist() == pytest.approx([25.0, 25.6, 26.2])
    plain = CheckpointInfo.from_dict({"data_spec": spec, "config": {}})
    assert plain.frame_step == 1 and plain.num_frames == 100


@pytest.fixture(scope="module")
def two_step_run(heat_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MeshGraphNet trained with a step of two snapshots on the heat data."""
    out = tmp_path_factory.mktemp("frame_step") / "run"
    config = TrainConfig(
        model="meshgraphnet", width=16, model_options={"num_layers": 2}, frame_step=2,
        epochs=2, batch_size=4, lr=3e-3, warmup_steps=2, device="cpu", out_dir=str(out),
        progress=False,
    )
    train(config, heat_data)
    return out


def test_training_records_the_step_and_its_increments(heat_data: Path, two_step_run: Path) -> None:
    model = load_model(two_step_run / "best")
    assert model.frame_step == 2
    assert CheckpointInfo.read(two_step_run / "best").frame_step == 2
    fields = [g.fields.double() for g in load_dataset(heat_data, "train")]
    increments = torch.cat([f[2:] - f[:-2] for f in fields], dim=0)
    assert float(model.normalizer.delta_std) == pytest.approx(float(increments.std()), rel=1e-3)
    one_step = torch.cat([f[1:] - f[:-1] for f in fields], dim=0)
    assert abs(float(model.normalizer.delta_std) / float(one_step.std()) - 1) > 0.2


def test_evaluate_and_generate_step_through_every_other_frame(
    heat_data: Path, two_step_run: Path
) -> None:
    model = load_model(two_step_run / "best")
    report = evaluate(model, load_dataset(heat_data, "test"), progress=False)
    # 7 snapshots 0.25 apart: the model predicts snapshots 2, 4, 6 (3 steps of 0.5)
    assert report["frame_step"] == 2 and report["steps"] == 3
    assert report["times"] == pytest.approx([0.5, 1.0, 1.5])
    graph = load_dataset(heat_data, "test")[0]
    cond = dict(zip(model.cond_names, graph.cond.reshape(-1).tolist(), strict=True))
    result = meshfield.generate(graph, cond, model=two_step_run / "best",
                                initial=graph.fields[:1], residual=False)
    assert result.fields.shape[0] == 4  # the initial frame and 3 steps
    assert result.times.tolist() == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_init_from_a_model_of_another_step(heat_data: Path, two_step_run: Path, tmp_path: Path) -> None:
    source = load_model(two_step_run / "best")
    config = TrainConfig(
        model="meshgraphnet", width=16, model_options={"num_layers": 2}, frame_step=1,
        epochs=1, steps_per_epoch=1, batch_size=4, lr=1e-12, warmup_steps=0, device="cpu",
        out_dir=str(tmp_path / "run"), progress=False, init_from=str(two_step_run / "best"),
    )
    result = train(config, heat_data)
    started = load_model(Path(config.out_dir) / "last")
    assert started.frame_step == 1
    # the weights and field statistics are the checkpoint's; the increments' are refitted
    norm, old = started.normalizer, source.normalizer
    assert torch.allclose(norm.field_std, old.field_std)
    fields = [g.fields.double() for g in load_dataset(heat_data, "train")]
    one_step = torch.cat([f[1:] - f[:-1] for f in fields], dim=0)
    assert float(norm.delta_std) == pytest.approx(float(one_step.std()), rel=1e-3)
    weight = dict(source.named_parameters())
    moved = max(float((p - weight[n]).detach().abs().max()) for n, p in started.named_parameters())
    assert moved < 1e-6, result
    # another architecture is still refused
    wider = dataclasses.replace(config, width=32, out_dir=str(tmp_path / "wider"))
    with pytest.raises(ValueError, match="another configuration"):
        train(wider, heat_data)


def test_a_given_model_of_another_step_is_refused(heat_data: Path, tmp_path: Path) -> None:
    from meshfield.train import Trainer

    graphs = load_dataset(heat_data, "train")
    config = TrainConfig(model="meshgraphnet", width=16, frame_step=2, device="cpu",
                         out_dir=str(tmp_path / "run"), progress=False)
    model = build_model("meshgraphnet", field_names=tuple(graphs[0].field_names),
                        cond_names=tuple(graphs[0].cond_names), width=16)
    with pytest.raises(ValueError, match="the run steps 2 snapshot.s. at a time, the given model 1"):
        Trainer(config, graphs, model=model)
