"""Training in time: warmed-up temporal states, unrolled horizons, curriculum, budget."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from meshfield.checkpoint import load_model
from meshfield.data import load_dataset
from meshfield.train import StepLoss, TrainConfig, Trainer, TrajectoryWindows, collate_windows

#: an HMT with a temporal latent, small enough for many steps per test
TINY_HMT = {
    "d_latent": 8,
    "backbone": {
        "pattern": "MA",
        "patch_size": 16,
        "num_heads": 2,
        "mamba": {"headdim": 8, "d_state": 8, "chunk_size": 16},
    },
    "decoder": {"query_neighbors": 4, "query_hidden": 8},
}


@pytest.fixture
def hmt_config(tiny_config: TrainConfig) -> TrainConfig:
    return tiny_config.replace(model="hmt", width=16, model_options=TINY_HMT)


def _trainer(config: TrainConfig, data: Path) -> Trainer:
    return Trainer(config, load_dataset(data, "train"), load_dataset(data, "val"))


def _stepped_state(model, graph, frames: torch.Tensor, steps: int) -> torch.Tensor | None:
    """The state after ``steps`` plain model steps on the true frames (the slow reference)."""
    state = None
    h = model.history
    with torch.no_grad():
        for j in range(steps):
            state = model(graph, frames[j : j + h], state=state).state
    return state


def _loss_and_input_grad(
    model, batch, horizon: int, **options
) -> tuple[torch.Tensor, torch.Tensor]:
    """A StepLoss of ``batch`` (no initial head), backpropagated: the loss and the frames' grad."""
    fields = batch.fields.clone().requires_grad_(True)
    copy = batch.clone()
    copy.fields = fields
    model.zero_grad()
    loss = StepLoss(model, 1, horizon, initial_weight=0.0, **options)(copy)[0]
    loss.backward()
    return loss.detach(), fields.grad


@pytest.mark.parametrize("history", [1, 2])
def test_window_state_equals_a_rollout_from_the_start(
    heat_data: Path, hmt_config: TrainConfig, history: int
) -> None:
    trainer = _trainer(hmt_config.replace(history=history), heat_data)
    model = trainer.model.eval()
    windows = trainer.windows
    assert windows.warmup == max(start for _, start in windows.index)
    graph = load_dataset(heat_data, "train")[1]
    picked = [i for i, (run, _) in enumerate(windows.index) if run == 1]
    for i in picked:
        window = windows[i]
        start = window.start
        warmed = model.warm_state(window, window.warmup, window.warmup_steps)
        expected = _stepped_state(model, graph, graph.fields, start)
        if start == 0:
            assert expected is None and warmed is None  # a fresh state
        else:
            torch.testing.assert_close(warmed, expected, rtol=1e-5, atol=1e-6)
    # a batch of windows of different starts gets each window's own state
    batch = collate_windows([windows[i] for i in picked])
    together = model.warm_state(batch, batch.warmup, batch.warmup_steps)
    for row, i in enumerate(picked):
        alone = model.warm_state(windows[i], windows[i].warmup, windows[i].warmup_steps)
        alone = torch.zeros_like(together[:1]) if alone is None else alone
        torch.testing.assert_close(together[row], alone[0], rtol=1e-5, atol=1e-6)


def test_truncated_warmup_starts_fresh_before_its_steps(heat_data: Path) -> None:
    graphs = load_dataset(heat_data, "train")
    windows = TrajectoryWindows(graphs, history=1, warmup=2)
    late = next(w for w in (windows[i] for i in range(len(windows))) if w.start == 4)
    assert late.warmup_steps == 2
    torch.testing.assert_close(late.warmup, graphs[late.run].fields[2:4])
    first = windows[0]
    assert first.start == 0 and first.warmup_steps == 0 and first.warmup.shape[0] == 2
    with pytest.raises(ValueError, match="warmup"):
        TrajectoryWindows(graphs, history=1, warmup=-1)


def test_a_model_without_state_skips_the_warmup(
    heat_data: Path, tiny_config: TrainConfig
) -> None:
    trainer = _trainer(tiny_config, heat_data)  # MeshGraphNet
    assert not trainer.model.has_state and trainer.windows.warmup == 0
    assert "warmup" not in trainer.windows[3]


def test_gradients_reach_the_first_unrolled_step(
    heat_data: Path, hmt_config: TrainConfig
) -> None:
    trainer = _trainer(hmt_config.replace(pushforward_steps=2), heat_data)
    windows = trainer.windows
    batch = collate_windows([windows[i] for i in range(3)])

    def input_gradient(pushforward_grad: bool, horizon: int) -> torch.Tensor:
        _, grad = _loss_and_input_grad(
            trainer.model, batch, horizon, pushforward_grad=pushforward_grad
        )
        return grad[0]

    one = input_gradient(True, 1)
    through = input_gradient(True, 3)
    detached = input_gradient(False, 3)
    # the losses of steps 2 and 3 reach the input only through the unrolled predictions
    assert float((through - one / 3).abs().max()) > 1e-6
    torch.testing.assert_close(detached, one / 3)
    # the warm-up frames never get a gradient (teacher forcing without one)
    warm = batch.warmup.clone().requires_grad_(True)
    copy = batch.clone()
    copy.warmup = warm
    StepLoss(trainer.model, 1, 3, pushforward_grad=True)(copy)[0].backward()
    assert warm.grad is None


def test_last_only_trains_the_last_unrolled_step_alone(
    heat_data: Path, hmt_config: TrainConfig
) -> None:
    trainer = _trainer(hmt_config.replace(pushforward_steps=2), heat_data)
    windows = trainer.windows
    batch = collate_windows([windows[i] for i in range(3)])
    model = trainer.model

    # the loss is the third step's term of the plain (detached) three-step loss
    three, _ = _loss_and_input_grad(model, batch, 3)
    two, _ = _loss_and_input_grad(model, batch, 2)
    last, grad = _loss_and_input_grad(model, batch, 3, last_only=True)
    torch.testing.assert_close(last, 3 * three - 2 * two, rtol=1e-4, atol=1e-7)
    # the steps before the last are made without gradients: the input frame gets none, the
    # last step's target does, and so do the weights
    assert float(grad[0].abs().max()) == 0.0
    assert float(grad[3].abs().max()) > 0.0
    assert any(p.grad is not None and float(p.grad.abs().max()) > 0 for p in model.parameters())
    with pytest.raises(ValueError, match="pushforward_grad"):
        StepLoss(model, 1, 3, pushforward_grad=True, last_only=True)
    with pytest.raises(ValueError, match="'unroll_loss' must be one of"):
        TrainConfig(unroll_loss="first")
    with pytest.raises(ValueError, match="'pushforward_grad' must be false"):
        TrainConfig(unroll_loss="last", pushforward_grad=True)


def test_horizon_curriculum() -> None:
    config = TrainConfig(pushforward_steps=3, horizon_ramp_epochs=3)
    assert [config.horizon_at(e) for e in range(1, 7)] == [1, 2, 3, 4, 4, 4]
    assert TrainConfig(pushforward_steps=3).horizon_at(1) == 4
    with pytest.raises(ValueError, match="horizon_ramp_epochs"):
        TrainConfig(horizon_ramp_epochs=-1)
    with pytest.raises(ValueError, match="state_warmup"):
        TrainConfig(state_warmup=-2)


def test_resume_stays_exact_in_time(
    heat_data: Path, hmt_config: TrainConfig, tmp_path: Path
) -> None:
    whole = hmt_config.replace(
        out_dir=str(tmp_path / "whole"),
        pushforward_steps=2,
        pushforward_grad=True,
        horizon_ramp_epochs=1,
    )
    parts = whole.replace(out_dir=str(tmp_path / "parts"))
    _trainer(whole, heat_data).fit()
    _trainer(parts, heat_data).fit(until_epoch=1)
    torch.manual_seed(99)
    _trainer(parts, heat_data).fit(resume=True)
    a = load_model(tmp_path / "whole" / "last").state_dict()
    b = load_model(tmp_path / "parts" / "last").state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    log = [json.loads(x) for x in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert [entry["horizon"] for entry in log] == [1, 3]


def test_time_budget_and_init_from(
    heat_data: Path, hmt_config: TrainConfig, tmp_path: Path
) -> None:
    first = hmt_config.replace(out_dir=str(tmp_path / "a"), epochs=50, time_budget_s=1e-9)
    result = _trainer(first, heat_data).fit()
    # the budget ends the run after its first step; the epoch is still checkpointed
    assert result.epoch == 1 and result.log[0]["step"] == 1
    again = _trainer(first, heat_data).fit(resume=True)
    assert again.epoch == 1 and again.log == []
    # a larger budget on resume goes on from where the spent one stopped
    more = _trainer(first.replace(epochs=2, time_budget_s=1e9), heat_data).fit(resume=True)
    assert more.epoch == 2 and [entry["epoch"] for entry in more.log] == [2]
    second = hmt_config.replace(out_dir=str(tmp_path / "b"), init_from=str(tmp_path / "a"))
    trainer = _trainer(second, heat_data)
    saved = load_model(tmp_path / "a" / "last").state_dict()
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, saved[name]), name
    other = second.replace(width=24)
    with pytest.raises(ValueError, match="another configuration"):
        _trainer(other, heat_data)


def test_a_budgeted_cosine_ends_with_the_budget(
    heat_data: Path, tiny_config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a clock that moves 0.1 s per reading: every step takes 0.1 s, so a 1 s budget is 10 steps,
    # while 1000 epochs of 40 steps would leave the step-counted cosine at its start
    from types import SimpleNamespace

    import meshfield.train.loop as loop

    ticks = iter(range(10**6))
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: 0.1 * next(ticks)))
    rates = {}
    for schedule in ("cosine", "constant"):
        config = tiny_config.replace(
            out_dir=str(tmp_path / schedule), epochs=1000, steps_per_epoch=40,
            time_budget_s=0.95, schedule=schedule, min_lr=1e-4,
        )
        trainer = _trainer(config, heat_data)
        trainer.fit()
        assert trainer.global_step == 10
        rates[schedule] = trainer.optimizer.param_groups[0]["lr"]
    # the rate after the 10th step reads the budget spent before it (0.9 of 0.95 s)
    fraction = 0.9 / 0.95
    expected = 1e-4 + (3e-3 - 1e-4) * 0.5 * (1 + math.cos(math.pi * fraction))
    assert rates["cosine"] == pytest.approx(expected, rel=1e-6)
    assert rates["constant"] == pytest.approx(3e-3)
    # the fraction is part of the schedule's saved state: a resume goes on from it
    info = json.loads((tmp_path / "cosine" / "last" / "train_state.json").read_text())
    assert info["scheduler"]["lr_lambdas"][0]["budget_fraction"] == pytest.approx(fraction)


def test_divergence_stops_with_a_clear_error(
    heat_data: Path, hmt_config: TrainConfig
) -> None:
    config = hmt_config.replace(lr=1e30, grad_clip=None, warmup_steps=0, epochs=3)
    with pytest.raises(FloatingPointError, match="diverged"):
        _trainer(config, heat_data).fit()


def test_a_kill_before_last_is_committed_redoes_the_epoch(
    heat_data: Path, tiny_config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # killed after best/ and the log line of epoch 2 but before last/: the resume redoes
    # epoch 2 and ends where an uninterrupted run ends, with one log line per epoch
    whole = tiny_config.replace(out_dir=str(tmp_path / "whole"))
    _trainer(whole, heat_data).fit()
    parts = tiny_config.replace(out_dir=str(tmp_path / "parts"))
    trainer = _trainer(parts, heat_data)
    original = Trainer._save_last

    def crash(self, metadata):
        if metadata["epoch"] == 2:
            raise KeyboardInterrupt
        return original(self, metadata)

    monkeypatch.setattr(Trainer, "_save_last", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    monkeypatch.setattr(Trainer, "_save_last", original)
    _trainer(parts, heat_data).fit(resume=True)
    for name in ("last", "best"):
        a = load_model(tmp_path / "whole" / name).state_dict()
        b = load_model(tmp_path / "parts" / name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    lines = (tmp_path / "parts" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_streams_walk_each_trajectory_in_time_order(heat_data: Path) -> None:
    from meshfield.train import TrajectoryStreams

    graphs = load_dataset(heat_data, "train")
    windows = TrajectoryWindows(graphs, history=1, horizon=3)
    last = {run: max(s for r, s in windows.index if r == run) for run, _ in windows.index}
    streams = TrajectoryStreams(windows, 2, 3, 12, seed=0)
    order = list(streams)
    assert len(order) == len(streams) == 24 and order == list(streams)  # the same each time
    batches = [order[b : b + 2] for b in range(0, 24, 2)]
    new_walks = 0
    for s in range(2):
        walk = [windows.index[batch[s]] for batch in batches]
        assert walk[0][1] < 3  # a walk starts at an offset below the stride
        for (run, start), (next_run, next_start) in zip(walk, walk[1:], strict=False):
            if (next_run, next_start) == (run, start + 3):
                continue
            # a new trajectory only where the last one has no window 3 frames on
            new_walks += 1
            assert start + 3 > last[run] and next_start < 3
    assert new_walks >= 1
    streams.set_epoch(1)
    assert list(streams) != order
    # two processes walk disjoint halves of the same streams
    whole = TrajectoryStreams(windows, 4, 3, 5, seed=0)
    parts = [list(TrajectoryStreams(windows, 2, 3, 5, seed=0, rank=r, world_size=2))
             for r in range(2)]
    full = list(whole)
    for b in range(5):
        assert full[4 * b : 4 * b + 4] == parts[0][2 * b : 2 * b + 2] + parts[1][2 * b : 2 * b + 2]


def test_a_carried_state_is_where_the_previous_unroll_ended(
    heat_data: Path, hmt_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hmt_config.replace(
        state_carry=True, pushforward_steps=1, pushforward_grad=True, batch_size=2
    )
    trainer = _trainer(config, heat_data)
    model, loss = trainer.model, trainer.loss
    assert loss.carry_state and loss.horizon == 2
    seen: list[torch.Tensor | None] = []
    steps = model.rollout_steps

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("state"))
        return steps(*args, **kwargs)

    monkeypatch.setattr(model, "rollout_steps", recording)
    batches = list(trainer._loader(1))
    ended = None
    carried_rows = fresh_rows = 0
    for k, batch in enumerate(batches):
        loss(batch)
        if k == 0:
            assert seen[-1] is None or ended is None  # the first windows are warmed up
        else:
            previous = batches[k - 1]
            warmed = model.warm_state(batch, batch.warmup, batch.warmup_steps)
            for row in range(2):
                continues = int(batch.run[row]) == int(previous.run[row]) and int(
                    batch.start[row]
                ) == int(previous.start[row]) + 2
                expected = ended[row] if continues else (
                    torch.zeros_like(ended[row]) if warmed is None else warmed[row]
                )
                torch.testing.assert_close(seen[-1][row], expected)
                carried_rows += continues
                fresh_rows += not continues
        ended = loss._carried[2]
        assert not ended.requires_grad
    assert carried_rows > 0 and fresh_rows > 0
    # a new epoch starts from the warm-up again
    loss.reset_carry()
    loss(batches[1])
    warmed = model.warm_state(batches[1], batches[1].warmup, batches[1].warmup_steps)
    torch.testing.assert_close(seen[-1], warmed)


def test_resume_stays_exact_with_a_carried_state(
    heat_data: Path, hmt_config: TrainConfig, tmp_path: Path
) -> None:
    whole = hmt_config.replace(
        out_dir=str(tmp_path / "whole"), pushforward_steps=1, state_carry=True, batch_size=2
    )
    parts = whole.replace(out_dir=str(tmp_path / "parts"))
    _trainer(whole, heat_data).fit()
    _trainer(parts, heat_data).fit(until_epoch=1)
    _trainer(parts, heat_data).fit(resume=True)
    a = load_model(tmp_path / "whole" / "last").state_dict()
    b = load_model(tmp_path / "parts" / "last").state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_the_initial_head_trains_every_kth_step_weighted_k_times(
    heat_data: Path, hmt_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _trainer(hmt_config.replace(initial_every=3, steps_per_epoch=7), heat_data)
    model, loss = trainer.model, trainer.loss
    assert model.initial_decoder is not None
    batch = collate_windows([trainer.windows[i] for i in range(2)])
    torch.manual_seed(0)
    total, (step_loss, initial_loss) = loss(batch)
    torch.testing.assert_close(total, step_loss + initial_loss)
    loss.initial_scale = 3.0
    torch.manual_seed(0)
    total, parts = loss(batch)
    torch.testing.assert_close(total, parts[0] + 3.0 * parts[1])
    loss.initial_scale = 0.0
    torch.manual_seed(0)
    total, parts = loss(batch)
    assert float(parts[1]) == 0.0
    torch.testing.assert_close(total, parts[0])

    calls: list[int] = []
    initial = model.initial

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(trainer.global_step)
        return initial(*args, **kwargs)

    monkeypatch.setattr(model, "initial", recording)
    logged = trainer.train_epoch(1)
    assert trainer.global_step >= 4
    assert calls == list(range(0, trainer.global_step, 3))
    assert logged["initial_loss"] > 0  # the mean over the steps that trained the head


def test_state_carry_on_a_model_without_state_warns(
    heat_data: Path, tiny_config: TrainConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="meshfield.train.loop"):
        trainer = _trainer(tiny_config.replace(state_carry=True), heat_data)  # MeshGraphNet
    assert not trainer.loss.carry_state
    assert "no temporal state to carry" in caplog.text
