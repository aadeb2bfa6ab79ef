"""meshfield bench accuracy on the tiny heat-plate data (the training fixtures): rows,
baselines, cached reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshfield.bench import accuracy

pytestmark = pytest.mark.slow


def _tiny_recipe(tmp_path: Path) -> Path:
    """A recipe small enough for a budget of half a second."""
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({
        "width": 32,
        "steps_per_epoch": 2,
        "model_options": {"decoder": {"query_neighbors": 4, "query_hidden": 8}},
        "device": "cpu",
    }))
    return recipe


def test_bench_accuracy_trains_each_model_for_the_budget(
    heat_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _tiny_recipe(tmp_path)
    out = tmp_path / "bench"
    argv = ["--data", str(heat_data), "--models", "meshgraphnet,hmt", "--budget-s", "0.5",
            "--recipe", str(recipe), "--out", str(out)]
    assert accuracy.main(argv) == 0
    text = capsys.readouterr().out
    for row in ("meshgraphnet", "hmt", "persistence", "time mean"):
        assert row in text
    for name in ("meshgraphnet", "hmt"):
        report = json.loads((out / name / "report.json").read_text())
        bench = report["bench"]
        # the budget stopped training after the step that spent it
        assert bench["steps"] >= 1 and bench["train_time_s"] >= 0.5
        assert bench["train_time_s"] < 0.5 + 30
        assert report["scores"]["rel_l2"]["mean"] > 0
    # a rerun reads the reports instead of training again
    before = (out / "hmt" / "report.json").stat().st_mtime_ns
    assert accuracy.main(argv) == 0
    assert (out / "hmt" / "report.json").stat().st_mtime_ns == before
    # but not a report of another budget: the row's folder is refused, not reused
    other = [("0.7" if a == "0.5" else a) for a in argv]
    with pytest.raises(ValueError, match="another time_budget_s than asked"):
        accuracy.main(other)


def test_bench_accuracy_rejects_unknown_models(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stop:
        accuracy.main(["--models", "mgn", "--data", str(tmp_path)])
    assert stop.value.code == 2


def test_bench_accuracy_trains_a_row_per_recipe_change(
    heat_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _tiny_recipe(tmp_path)
    out = tmp_path / "bench"
    argv = ["--data", str(heat_data), "--models", "hmt", "--budget-s", "0.5",
            "--recipe", str(recipe), "--out", str(out), "--changes", "no-temporal-latent"]
    assert accuracy.main(argv) == 0
    text = capsys.readouterr().out
    assert "hmt+no-temporal-latent" in text
    plain = json.loads((out / "hmt" / "train.json").read_text())
    changed = json.loads((out / "hmt+no-temporal-latent" / "train.json").read_text())
    # the change is applied on top of the recipe and leaves the rest of it alone
    assert changed["model_options"]["d_latent"] == 0
    assert changed["model_options"]["decoder"] == plain["model_options"]["decoder"]
    assert "d_latent" not in plain["model_options"]
    report = json.loads((out / "hmt+no-temporal-latent" / "report.json").read_text())
    assert report["bench"]["label"] == "hmt+no-temporal-latent"


def test_changed_recipe_applies_one_change() -> None:
    recipe = dict(accuracy.DEFAULT_RECIPE)
    one_step = accuracy.changed_recipe(recipe, "one-step")
    assert one_step["pushforward_steps"] == 0 and one_step["horizon_ramp_epochs"] == 0
    assert {k: v for k, v in one_step.items() if k not in accuracy.RECIPE_CHANGES["one-step"]} \
        == {k: v for k, v in recipe.items() if k not in accuracy.RECIPE_CHANGES["one-step"]}
    assert recipe == accuracy.DEFAULT_RECIPE  # the recipe itself is not changed
    with pytest.raises(ValueError, match="unknown recipe change 'wider'"):
        accuracy.changed_recipe(recipe, "wider")


def test_bench_accuracy_rejects_unknown_changes(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stop:
        accuracy.main(["--changes", "wider", "--data", str(tmp_path)])
    assert stop.value.code == 2


REPO = Path(__file__).resolve().parents[2]


def _bench_recipe(name: str) -> dict:
    """A recipe file of the README's full-size table, merged on the bench's default recipe."""
    fragment = json.loads((REPO / "configs" / name).read_text(encoding="utf-8"))
    return {**accuracy.DEFAULT_RECIPE, **fragment}


def test_pushforward_recipe_file_is_the_named_change() -> None:
    # the file only lets a run train the change's rows without the plain ones: it must say
    # what the named change says, or the README's full-size table and the per-change table
    # would describe two recipes under one name
    assert _bench_recipe("bench_pushforward.json") == accuracy.changed_recipe(
        accuracy.DEFAULT_RECIPE, "pushforward"
    )


def test_previous_model_recipe_file_keeps_its_backbone_and_mechanisms() -> None:
    # configs/bench_pushforward_shipped_hmt.json is the README row of the model shipped before
    # this one: its two-block backbone with a temporal latent, the state carried, pushforward
    from meshfield.train import TrainConfig

    recipe = _bench_recipe("bench_pushforward_shipped_hmt.json")
    config = TrainConfig.from_dict({**recipe, "model": "hmt"})
    assert config.state_carry and config.unroll_loss == "last" and not config.pushforward_grad
    assert config.model_options["backbone"]["pattern"] == "MA"
    assert config.model_options["d_latent"] == 32


def test_the_shipped_recipe_builds_the_shipped_architecture() -> None:
    # the recipe recorded for the shipped model (its first stage; the second starts from it)
    # builds exactly the model in the shipped checkpoint
    from meshfield.models import build_model
    from meshfield.train import TrainConfig
    from meshfield.train.config import model_options

    recipe = json.loads((REPO / "configs/cylinder_wake_hybrid.json").read_text(encoding="utf-8"))
    config = TrainConfig.from_dict(recipe)
    assert config.unroll_loss == "last" and not config.pushforward_grad
    decay = json.loads(
        (REPO / "configs/cylinder_wake_hybrid_decay.json").read_text(encoding="utf-8")
    )
    assert decay["model_options"] == recipe["model_options"] and decay["width"] == recipe["width"]
    # the fast model's recipe builds the same network with its step of three snapshots
    fast = json.loads(
        (REPO / "configs/cylinder_wake_hybrid_step3.json").read_text(encoding="utf-8")
    )
    assert fast["model_options"] == recipe["model_options"] and fast["frame_step"] == 3
    for name, stage in (("cylinder_wake", config), ("cylinder_wake_fast", TrainConfig.from_dict(fast))):
        shipped = json.loads(
            (REPO / f"meshfield/assets/pretrained/{name}/config.json").read_text(encoding="utf-8")
        )["config"]
        options = model_options(stage, tuple(shipped["field_names"]),
                                tuple(shipped["cond_names"]), shipped["dim"])
        built = build_model("hmt", **options)
        # a checkpoint written before frame_step existed reads it as 1
        assert built.config == type(built.config).from_dict(shipped), name
        assert built.frame_step == shipped.get("frame_step", 1), name


def test_linear_attention_change_keeps_the_rest_of_the_backbone() -> None:
    # a nested change is merged key by key: only the attention of the shipped backbone changes
    recipe = _bench_recipe("bench_pushforward_shipped_hmt.json")
    changed = accuracy.changed_recipe(recipe, "linear-attention")
    backbone = dict(recipe["model_options"]["backbone"], attention="linear")
    assert changed["model_options"] == {**recipe["model_options"], "backbone": backbone}
    assert recipe["model_options"]["backbone"].get("attention") is None  # the input is untouched


def test_mamba_expand_change_keeps_the_other_mamba_options() -> None:
    recipe = _bench_recipe("bench_pushforward_hmt_one_mamba.json")
    changed = accuracy.changed_recipe(recipe, "mamba-expand-1")
    backbone = changed["model_options"]["backbone"]
    assert backbone["mamba"] == {**recipe["model_options"]["backbone"]["mamba"], "expand": 1}
    assert backbone["pattern"] == recipe["model_options"]["backbone"]["pattern"]
    assert changed["model_options"]["encoder"] == recipe["model_options"]["encoder"]


def test_recipe_is_read_inline_or_from_a_file(tmp_path: Path) -> None:
    fields = {"seed": 1, "model_options": {"backbone": {"mamba": {"expand": 1}}}}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(fields))
    assert accuracy.read_recipe(str(path)) == fields
    # longer than a file name may be: read as JSON, not looked up on disk
    inline = json.dumps({**fields, "note": "x" * 300})
    assert accuracy.read_recipe(inline)["model_options"] == fields["model_options"]
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        accuracy.read_recipe(str(listed))
    with pytest.raises(ValueError, match="Expecting"):
        accuracy.read_recipe('{"seed": 1,')
    with pytest.raises(SystemExit) as stop:
        accuracy.main(["--recipe", '{"seed": ', "--data", str(tmp_path)])
    assert stop.value.code == 2


def test_a_wrong_recipe_field_stops_before_any_data_is_made(tmp_path: Path) -> None:
    # the spec would be simulated into --data; the typo is refused first, with exit code 2
    data = tmp_path / "not_made"
    for recipe in ('{"sed": 1}', '{"lr": NaN}'):
        with pytest.raises(SystemExit) as stop:
            accuracy.main(["--recipe", recipe, "--data", str(data), "--models", "hmt"])
        assert stop.value.code == 2
    assert not data.exists()
