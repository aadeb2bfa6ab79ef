"""The trainer: the loss falls, checkpoints and log, exact resume, early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from meshfield.checkpoint import load_model, read_checkpoint
from meshfield.data import load_dataset
from meshfield.train import StepLoss, TrainConfig, Trainer, collate_windows


def _trainer(config: TrainConfig, data: Path, *, val: bool = True) -> Trainer:
    return Trainer(
        config,
        load_dataset(data, "train"),
        load_dataset(data, "val") if val else None,
        data_spec={"case": "heat_plate"},
    )


def _fixed_loss(trainer: Trainer) -> float:
    """The loss on every training window, without noise."""
    batch = collate_windows([trainer.windows[i] for i in range(len(trainer.windows))])
    loss = StepLoss(trainer.model, trainer.config.history, initial_weight=0.0)
    with torch.no_grad():
        return float(loss(batch)[0])


def test_one_epoch_lowers_the_loss(heat_data: Path, tiny_config: TrainConfig) -> None:
    # 15 steps of one window each: the loss on all windows falls by a few percent
    config = tiny_config.replace(
        epochs=1, width=32, batch_size=1, lr=1e-3, warmup_steps=1, schedule="constant"
    )
    trainer = _trainer(config, heat_data)
    before = _fixed_loss(trainer)
    result = trainer.fit()
    after = _fixed_loss(trainer)
    assert after < 0.99 * before, (before, after)
    assert result.epoch == 1 and result.best_epoch == 1 and not result.stopped_early
    entry = result.log[0]
    assert entry["val_rollout_rel_l2"] > 0 and entry["train_loss"] > 0
    # the statistics come from the training split and travel with the model
    stats = trainer.model.normalizer
    fields = torch.cat([g.fields for g in load_dataset(heat_data, "train")], dim=1).double()
    assert float(stats.field_mean) == pytest.approx(float(fields.mean()), rel=1e-5)


def test_run_folder(heat_data: Path, tiny_config: TrainConfig) -> None:
    result = _trainer(tiny_config, heat_data).fit()
    run = Path(tiny_config.out_dir)
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    for key in (
        "train_loss",
        "val_rollout_rel_l2",
        "lr",
        "time_s",
        "epoch_time_s",
        "step",
    ):
        assert key in lines[0]
    assert lines[1]["step"] == 2 * 5  # 15 windows in batches of 4
    assert TrainConfig.from_dict(json.loads((run / "train.json").read_text())) == tiny_config
    info = read_checkpoint(run / "last")
    assert info["field_names"] == ["T"] and info["cond_names"] == [
        "alpha",
        "T_left",
        "T_hole",
    ]
    assert info["cond_ranges"]["alpha"] == pytest.approx([0.02, 0.1])
    assert info["data_spec"] == {"case": "heat_plate"}
    assert info["metadata"]["epoch"] == 2
    assert info["metadata"]["train_config"]["model"] == "meshgraphnet"
    # training state: JSON and safetensors only
    state = json.loads((run / "last" / "train_state.json").read_text())
    assert state["epoch"] == 2 and state["global_step"] == 10
    tensors = load_file(str(run / "last" / "train_state.safetensors"))
    assert tensors["rng/torch"].dtype == torch.uint8
    assert any(key.startswith("optimizer/") for key in tensors)
    best = load_model(result.best)
    assert read_checkpoint(result.best)["metadata"]["epoch"] == result.best_epoch
    assert best.config == load_model(result.last).config
    assert not list(run.glob(".last*"))


def test_resume_continues_exactly(
    heat_data: Path, tiny_config: TrainConfig, tmp_path: Path
) -> None:
    whole = tiny_config.replace(out_dir=str(tmp_path / "whole"), pushforward_steps=1)
    parts = whole.replace(out_dir=str(tmp_path / "parts"))
    _trainer(whole, heat_data).fit()
    first = _trainer(parts, heat_data).fit(until_epoch=1)
    assert first.epoch == 1
    torch.manual_seed(1234)  # whatever happens in between is undone by the resume
    resumed = _trainer(parts, heat_data).fit(resume=True)
    assert resumed.epoch == 2 and [e["epoch"] for e in resumed.log] == [2]
    a = load_model(tmp_path / "whole" / "last").state_dict()
    b = load_model(tmp_path / "parts" / "last").state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    log_a = (tmp_path / "whole" / "log.jsonl").read_text().splitlines()
    log_b = (tmp_path / "parts" / "log.jsonl").read_text().splitlines()
    for x, y in zip(log_a, log_b, strict=True):
        x, y = json.loads(x), json.loads(y)
        assert (
            x["train_loss"] == y["train_loss"]
            and x["val_rollout_rel_l2"] == y["val_rollout_rel_l2"]
        )


def test_early_stopping(heat_data: Path, tiny_config: TrainConfig) -> None:
    # no later epoch can improve by min_delta: stop `patience` epochs after the first
    config = tiny_config.replace(epochs=10, patience=2, min_delta=1e9, steps_per_epoch=1)
    result = _trainer(config, heat_data).fit()
    assert result.stopped_early and result.epoch == 3 and result.best_epoch == 1
    assert result.log[-1]["stopped_early"]
    # a resumed run that had stopped stays stopped
    again = _trainer(config, heat_data).fit(resume=True)
    assert again.epoch == 3 and again.log == []


def test_no_validation_data_tracks_the_training_loss(
    heat_data: Path, tiny_config: TrainConfig
) -> None:
    config = tiny_config.replace(epochs=1, patience=1, steps_per_epoch=2)
    result = _trainer(config, heat_data, val=False).fit()
    assert result.log[0]["val_rollout_rel_l2"] is None
    assert result.best_metric == pytest.approx(result.log[0]["train_loss"])


@pytest.mark.parametrize("name", ["hmt", "transformer"])
def test_other_models_train(heat_data: Path, tiny_config: TrainConfig, name: str) -> None:
    options = {
        "hmt": {
            "backbone": {
                "pattern": "MA",
                "patch_size": 64,
                "num_heads": 2,
                "mlp_ratio": 2.0,
                "mamba": {
                    "d_state": 8,
                    "headdim": 8,
                    "chunk_size": 16,
                    "backend": "torch",
                },
            },
            "d_latent": 8,
            "encoder": {"fourier_features": 2, "message_passing": 1},
        },
        "transformer": {"num_layers": 1, "num_heads": 2},
    }[name]
    config = tiny_config.replace(
        model=name,
        model_options=options,
        epochs=1,
        steps_per_epoch=2,
        history=2,
        pushforward_steps=1,
    )
    result = _trainer(config, heat_data).fit()
    assert result.epoch == 1
    model = load_model(result.last)
    assert model.kind == name and model.history == 2


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="'model' must be one of"):
        TrainConfig(model="unet")
    with pytest.raises(ValueError, match="'epochs' must be a positive integer"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="'min_lr' must not exceed"):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    with pytest.raises(TypeError, match="JSON"):
        TrainConfig(model_options={"x": object()})


def test_extra_data_joins_a_second_mesh(
    heat_data: Path, heat_spec: dict, tiny_config: TrainConfig, tmp_path: Path
) -> None:
    # the same case on a finer mesh: its train runs join the statistics and the windows,
    # its val run the validation rollouts
    from meshfield.cases.datagen import datagen
    from meshfield.data import load_spec
    from meshfield.train import train

    heat_spec["mesh"]["params"]["size"] = 0.15
    finer = datagen(load_spec(heat_spec), tmp_path / "finer", progress=False)
    config = tiny_config.replace(epochs=1, extra_data=(str(finer),))
    result = train(config, heat_data)
    model = load_model(result.last)
    runs = [*load_dataset(heat_data, "train"), *load_dataset(finer, "train")]
    assert len({g.num_nodes for g in runs}) == 2
    fields = torch.cat([g.fields for g in runs], dim=1).double()
    assert float(model.normalizer.field_mean) == pytest.approx(float(fields.mean()), rel=1e-5)
    saved = json.loads((Path(config.out_dir) / "train.json").read_text())
    assert saved["extra_data"] == [str(finer)]
    assert TrainConfig.from_dict(saved).extra_data == (str(finer),)


def test_extra_data_must_be_folders() -> None:
    with pytest.raises(TypeError, match="'extra_data' must be a list of dataset folders"):
        TrainConfig(extra_data="data/fine")
    with pytest.raises(TypeError, match="'extra_data' must be a list of dataset folders"):
        TrainConfig(extra_data=["data/fine", 3])
    assert TrainConfig(extra_data=["a", "b"]).extra_data == ("a", "b")
