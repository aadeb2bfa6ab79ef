from __future__ import annotations

import re

import pytest
import torch

from meshfield.bench import BENCHMARKS, model


def test_registered() -> None:
    assert BENCHMARKS["model"] == "meshfield.bench.model"


def test_mesh_is_shuffled_triangulation() -> None:
    data = model.make_mesh(400)
    assert data.num_nodes == 400 and data.cells["triangle"].shape == (2 * 19 * 19, 3)
    assert data.fields.shape == (2, 400, 3) and data.cond.tolist() == [100.0]
    # shuffled ids: mesh neighbours are not neighbours in node order
    src, dst = data.edge_index
    assert (src - dst).abs().float().median() > 20


def test_setup_step_runs_in_process() -> None:
    torch.set_num_threads(1)
    call, extra = model.setup_step(model="meshgraphnet", num_nodes=64, backward=True)
    call()
    assert extra["nodes"] == 64 and extra["params"] > 0


@pytest.mark.slow
def test_quick_run_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert model.main(["--quick", "--sizes", "256,1024", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    measured = r"\s+[\d.]+\s+[\d.]+\s+\d+\s+[\d.]+"
    for name in ("HMT", "MeshGraphNet"):
        for size in ("256", "1024"):
            for passes in ("infer", "train"):
                assert re.search(rf"{name}\s+{size}\s+{passes}{measured}", out), (
                    name,
                    size,
                    passes,
                )
    for label in (
        "MeshGraphNet / HMT time per training step",
        "time growth / N growth",
        "HMT inference peak GiB",
    ):
        assert label in out, label


def test_targets_name_the_training_ratio_at_10k_and_100k(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        model.Row("hmt", 10_000, True, 1.0, 10**9, 10_000),
        model.Row("meshgraphnet", 10_000, True, 3.2, 10**9, 10_000),
        model.Row("hmt", 100_000, True, 10.0, 10**9, 100_000),
        model.Row("meshgraphnet", 100_000, True, 25.0, 10**9, 100_000, checkpoint=True),
    ]
    model._print_targets(rows, (10_000, 100_000))
    out = capsys.readouterr().out
    assert re.search(r"training step at 10k\s+3\.2\s+target >= 3\s+met", out)
    assert re.search(r"training step at 100k\s+2\.5\s+target >= 3\s+NOT met \(meshgraphnet", out)


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(SystemExit):
        model.main(["--sizes", "0"])


def test_plan_checkpoints_training_steps_that_would_not_fit() -> None:
    # 1 kB per node measured at 1k nodes: 100 MB predicted at 100k nodes
    plain = model.Row("hmt", 1_000, True, 1.0, 1_000_000, 1_000)
    assert model._plan(100_000, True, "auto", 500.0, plain, None) == (False, "")
    assert model._plan(100_000, True, "auto", 50.0, plain, None) == (True, "")
    assert model._plan(100_000, True, "always", 500.0, plain, None) == (True, "")
    checkpoint, skip = model._plan(100_000, True, "never", 50.0, plain, None)
    assert not checkpoint and skip == "skipped: predicted peak 95 MB > --max-mb 50"
    # a checkpointed row predicts the next checkpointed one
    recomputed = model.Row("hmt", 10_000, True, 1.0, 5_000_000, 10_000, checkpoint=True)
    checkpoint, skip = model._plan(1_000_000, True, "auto", 50.0, plain, recomputed)
    assert checkpoint and "with checkpointing 477 MB" in skip
    # inference is neither checkpointed nor skipped
    assert model._plan(100_000, False, "always", 50.0, plain, None) == (False, "")


def test_checkpointed_builds() -> None:
    hmt = model._build("hmt", True)
    assert hmt.config.backbone.mamba.checkpoint
    mgn = model._build("meshgraphnet", True)
    assert (
        mgn.config.checkpoint
        and not model._build("meshgraphnet", False).config.checkpoint
    )
