"""meshfield bench rollout: its rows and the step's operation count."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from meshfield.bench import BENCHMARKS, rollout

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))


def test_registered() -> None:
    assert BENCHMARKS["rollout"] == "meshfield.bench.rollout"


def test_step_flops_grow_with_the_mesh_and_the_gemm_rate_is_measured() -> None:
    import torch
    from _model_helpers import grid_mesh, tiny_hmt_config

    from meshfield.models import HMT

    torch.manual_seed(0)
    model = HMT(tiny_hmt_config()).eval()
    small, large = grid_mesh(8), grid_mesh(16)
    flops_small = rollout.step_flops(model, small, {"c": 1.0})
    flops_large = rollout.step_flops(model, large, {"c": 1.0})
    # every layer is per node or per edge (attention per patch): 4x the nodes, ~4x the work
    assert flops_small > 0
    assert 3.0 < flops_large / flops_small < 5.0


@pytest.mark.slow
def test_bench_rollout_without_openfoam_prints_generation_and_floor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert rollout.main(["--no-openfoam", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"eager\s+[\d.]+ s\s+[\d.]+ ms/step", out)
    assert re.search(r"residual of all 100 frames on the mesh: \+[\d.]+ s", out)
    assert re.search(r"arithmetic floor: [\d.]+ GFLOP per step / \d+ GFLOP/s", out)
    assert re.search(r"eager\s+step / floor = [\d.]+x", out)
    assert "pimpleFoam: skipped" in out


def test_a_model_of_another_case_is_refused_before_any_timing(tmp_path: Path) -> None:
    import torch
    from _model_helpers import tiny_hmt_config

    from meshfield.checkpoint import save_checkpoint
    from meshfield.models import HMT

    torch.manual_seed(0)
    other = HMT(tiny_hmt_config())  # fields u, v under a condition c
    save_checkpoint(other, tmp_path / "other")
    with pytest.raises(ValueError, match=r"other: bench rollout times models of the shipped"):
        rollout.main(["--no-openfoam", "--repeat", "1", "--model", str(tmp_path / "other")])


@pytest.mark.slow
def test_bench_rollout_times_a_given_model_of_the_case(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from meshfield.pretrained import resolve_checkpoint

    folder = resolve_checkpoint("cylinder_wake")
    args = ["--no-openfoam", "--repeat", "1", "--batch", "1", "--model", str(folder)]
    assert rollout.main(args) == 0
    out = capsys.readouterr().out
    assert f"model {folder}, bundled mesh 4548 nodes" in out
    assert re.search(r"eager\s+[\d.]+ s\s+[\d.]+ ms/step", out)


@pytest.mark.slow
def test_bench_rollout_of_a_model_of_several_snapshots_per_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the fast shipped model steps 3 snapshots (0.6 time units) at a time: the spec's window
    # of 100 snapshots is 33 of its steps, and its residual covers the 34 frames it makes
    args = ["--no-openfoam", "--repeat", "1", "--batch", "1", "--model", "cylinder_wake_fast"]
    assert rollout.main(args) == 0
    out = capsys.readouterr().out
    assert "33-step generation from the condition alone, 3 snapshot intervals per step" in out
    assert re.search(r"residual of all 34 frames on the mesh: \+[\d.]+ s", out)
    assert re.search(r"eager\s+[\d.]+ s\s+[\d.]+ ms/step", out)
