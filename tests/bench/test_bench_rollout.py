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
    assert rollout.gemm_rate(256, 16, repeat=2) > 1e6


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
