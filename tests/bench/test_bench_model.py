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


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(SystemExit):
        model.main(["--sizes", "0"])
