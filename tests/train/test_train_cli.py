"""``meshfield train`` and ``meshfield evaluate`` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshfield.checkpoint import read_checkpoint
from meshfield.cli import main


def test_train_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--model",
        "--out",
        "--resume",
        "--epochs",
        "--noise-std",
        "--patience",
        "--data",
        "--extra-data",
    ):
        assert option in text
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "--split" in capsys.readouterr().out


_TINY = [
    "--model",
    "meshgraphnet",
    "--width",
    "16",
    "--model-options",
    '{"num_layers": 2}',
]


def test_train_from_a_spec_then_evaluate(
    heat_spec: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # one run per split: the spec's dataset is generated first
    for name in ("alpha", "T_left", "T_hole"):
        heat_spec["conditions"][name]["train"] = heat_spec["conditions"][name]["train"][:1]
    spec = tmp_path / "heat.yaml"
    spec.write_text(yaml.safe_dump(heat_spec, sort_keys=False))
    data, run = tmp_path / "data", tmp_path / "run"
    args = ["train", str(spec), "--data", str(data), "--out", str(run), *_TINY]
    assert main([*args, "--epochs", "2", "--until-epoch", "1", "--quiet", "--device", "cpu"]) == 0
    assert (data / "index.json").is_file() and (run / "last" / "config.json").is_file()
    saved = read_checkpoint(run / "last")  # the data spec travels with the model
    assert saved["data_spec"]["case"] == "heat_plate" and saved["cond_names"] == [
        "alpha",
        "T_left",
        "T_hole",
    ]
    # resume: the saved configuration (2 epochs) goes on
    assert (
        main(
            [
                "train",
                str(spec),
                "--data",
                str(data),
                "--out",
                str(run),
                "--resume",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "after epoch 2" in out
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["epoch"] for entry in log] == [1, 2]

    report = tmp_path / "report.json"
    assert main(["evaluate", str(run), str(data), "--out", str(report), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "rel_l2" in out and "alpha=0.07" in out and "mean" in out
    values = json.loads(report.read_text())
    assert values["checkpoint"].endswith("best") and values["split"] == "test"
    assert values["steps"] == 6 and values["field_names"] == ["T"]
    assert 0 < values["mean"]["rel_l2"]["T"] < 10


def test_bad_input_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tmp_path / "missing"), "--out", str(tmp_path / "run")]) == 2
    assert "neither a dataset folder nor a data spec" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), str(tmp_path)]) == 2
    assert "is not a meshfield checkpoint" in capsys.readouterr().err
    # the one resolver: a pretrained name works in evaluate as in generate, a typo is named
    assert main(["evaluate", "cylinder_wak", str(tmp_path)]) == 2
    assert "no pretrained model named 'cylinder_wak'" in capsys.readouterr().err
