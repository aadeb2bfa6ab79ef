"""meshfield bench train on the tiny heat-plate data: step times, windows per second, and
the loss of every step, the same for the same seed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from meshfield.bench import BENCHMARKS, train


def test_registered() -> None:
    assert BENCHMARKS["train"] == "meshfield.bench.train"


@pytest.mark.slow
def test_bench_train_times_steps_and_logs_every_loss(
    heat_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        json.dumps(
            {
                "width": 16,
                "batch_size": 2,
                "pushforward_steps": 1,
                "pushforward_grad": True,
                "state_warmup": 2,
                "model_options": {
            "backbone": {"pattern": "MA", "patch_size": 16, "num_heads": 2, "mamba": {"headdim": 8}},
            "d_latent": 8,
            "decoder": {"query_neighbors": 4, "query_hidden": 8},
        },
                "device": "cpu",
            }
        )
    )
    out = tmp_path / "train.json"
    argv = [
        "--data",
        str(heat_data),
        "--recipe",
        str(recipe),
        "--steps",
        "3",
        "--warmup",
        "1",
        "--out",
        str(out),
    ]
    assert train.main(argv) == 0
    text = capsys.readouterr().out
    assert re.search(r"eager\s+step\s+[\d.]+ ms\s+[\d.]+ windows/s", text)
    assert re.search(r"arithmetic floor: [\d.]+ GFLOP per step .* = \d+ ms", text)
    assert re.search(r"eager\s+step / floor = [\d.]+x", text)
    assert re.search(r"selective scan: (the compiled CPU kernel|chunked)", text)
    rows = json.loads(out.read_text())
    assert len(rows) == 1 and len(rows[0]["losses"]) == 4  # warm-up step included
    assert rows[0]["windows_per_s"] == pytest.approx(2 / rows[0]["step_s"])
    assert rows[0]["flops"] > 0 and rows[0]["gemm_shape"][1] == 16  # the recipe's width
    # the same seed gives the same windows and the same losses
    assert train.main(argv) == 0
    assert json.loads(out.read_text())[0]["losses"] == rows[0]["losses"]
    # a named change of the recipe is applied on top of it and named in the header
    assert train.main([*argv, "--change", "pushforward"]) == 0
    assert "recipe recipe.json+pushforward:" in capsys.readouterr().out
    changed = json.loads(out.read_text())[0]["losses"]
    assert len(changed) == 4 and changed != rows[0]["losses"]
    with pytest.raises(SystemExit):
        train.main([*argv, "--change", "wider"])
