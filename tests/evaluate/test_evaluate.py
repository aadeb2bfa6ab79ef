"""Evaluation: SSIM and PSNR, per-step metrics against hand-computed values, the report."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from meshfield.data import load_dataset
from meshfield.io.grid import from_grid, to_grid
from meshfield.evaluate import evaluate, format_table
from meshfield.metrics import psnr, rollout_metrics, ssim


class Oracle:
    """Predicts the reference (or ``source``) trajectory times ``scale``; a FieldModel's API."""

    kind = "oracle"

    def __init__(
        self,
        field_names: tuple[str, ...],
        scale: float = 1.0,
        std: float = 2.0,
        history: int = 1,
        source: Any = None,
    ) -> None:
        self.field_names = field_names
        self.source = source
        self.cond_names = ()
        self.history = history
        self.scale = scale
        self.normalizer = SimpleNamespace(field_std=torch.full((len(field_names),), std))

    def rollout(self, data: Any, steps: int, initial: torch.Tensor) -> torch.Tensor:
        fields = (self.source if self.source is not None else data).fields
        future = fields[self.history : self.history + steps] * self.scale
        return torch.cat([initial, future])


def _smooth_image(n: int = 32) -> torch.Tensor:
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    return torch.sin(4 * x)[:, None] * torch.cos(3 * x)[None, :]


def test_ssim_of_identical_images_is_one() -> None:
    image = _smooth_image()
    assert float(ssim(image, image)) == pytest.approx(1.0, abs=1e-12)
    volume = torch.rand(2, 12, 12, 12, dtype=torch.float64)
    assert ssim(volume, volume, spatial_dims=3).tolist() == pytest.approx([1.0, 1.0], abs=1e-12)


def test_ssim_falls_with_noise() -> None:
    image = _smooth_image()
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(image.shape, generator=generator, dtype=torch.float64)
    values = [float(ssim(image + level * noise, image)) for level in (0.01, 0.05, 0.2, 1.0)]
    assert all(a > b for a, b in itertools.pairwise(values)), values
    assert values[0] > 0.95 and values[-1] < 0.3


def test_ssim_of_constant_images_by_hand() -> None:
    # no variance: SSIM reduces to the luminance term (2 a b + C1) / (a^2 + b^2 + C1)
    a, b, span = 0.3, 0.5, 1.0
    c1 = (0.01 * span) ** 2
    expected = (2 * a * b + c1) / (a**2 + b**2 + c1)
    full = torch.full((16, 16), a, dtype=torch.float64)
    value = ssim(full, torch.full_like(full, b), data_range=span)
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_ssim_is_symmetric_and_batched() -> None:
    x, y = _smooth_image(), _smooth_image() ** 2
    assert float(ssim(x, y, data_range=2.0)) == pytest.approx(float(ssim(y, x, data_range=2.0)))
    pair = ssim(torch.stack([x, y]), torch.stack([y, y]))
    assert pair.shape == (2,)
    assert pair.tolist() == pytest.approx([float(ssim(x, y)), 1.0])


def test_psnr_by_hand() -> None:
    target = torch.zeros(8, 8)
    target[0, 0] = 2.0  # data range 2
    prediction = target + 0.1  # MSE 0.01
    assert float(psnr(prediction, target)) == pytest.approx(10 * math.log10(4 / 0.01))
    assert math.isinf(float(psnr(target, target)))


def test_rollout_metrics_of_a_scaled_prediction() -> None:
    target = torch.randn(3, 50, 2, dtype=torch.float64) + 1.0
    metrics = rollout_metrics(1.1 * target, target, field_names=["u", "v"], field_std=[2.0, 0.5])
    assert metrics["rel_l2"]["u"] == pytest.approx([0.1] * 3)
    assert metrics["rel_l2"]["all"] == pytest.approx([0.1] * 3)
    mse_v = (0.1 * target[..., 1]).square().mean(dim=1).tolist()
    assert metrics["mse_physical"]["v"] == pytest.approx(mse_v)
    assert metrics["rmse_physical"]["v"] == pytest.approx([math.sqrt(m) for m in mse_v])
    assert metrics["mse_normalized"]["v"] == pytest.approx([m / 0.25 for m in mse_v])
    assert "ssim" not in metrics and "all" not in metrics["mse_physical"]
    # no per-step "mse": in every score "mse" is the normalized one
    assert "mse" not in metrics and "rmse" not in metrics


def test_evaluate_the_reference_gives_zero_error(heat_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    report = evaluate(Oracle(("T",)), heat_data, split="test", out=out, progress=False)
    on_disk = json.loads(out.read_text())
    assert on_disk == report
    assert not list(tmp_path.glob(".*.tmp"))
    for key in (
        "field_names",
        "steps",
        "times",
        "runs",
        "per_step",
        "mean",
        "metrics",
        "split",
    ):
        assert key in report
    assert report["steps"] == 6 and len(report["times"]) == 6
    assert report["times"][0] == pytest.approx(0.25)
    run = report["runs"][0]
    assert run["conditions"] == pytest.approx({"alpha": 0.07, "T_left": 1.5, "T_hole": -0.5})
    for metric in ("rel_l2", "mse_physical", "rmse_physical", "mse_normalized", "rmse_normalized"):
        assert report["mean"][metric]["T"] == 0.0
        assert report["per_step"][metric]["T"] == [0.0] * 6


def test_evaluate_a_known_perturbation(heat_data: Path) -> None:
    report = evaluate(Oracle(("T",), scale=1.1, std=2.0), heat_data, split="train", progress=False)
    assert len(report["runs"]) == 3
    assert report["mean"]["rel_l2"]["T"] == pytest.approx(0.1, rel=1e-5)
    graph = load_dataset(heat_data, "train")[0]
    expected = (0.1 * graph.fields[1:].double()).square().mean(dim=(1, 2))
    assert report["runs"][0]["per_step"]["mse_physical"]["T"] == pytest.approx(expected.tolist(), rel=1e-5)
    assert report["runs"][0]["per_step"]["mse_normalized"]["T"] == pytest.approx(
        (expected / 4).tolist(), rel=1e-5
    )
    table = format_table(report)
    assert "alpha=0.02" in table
    # one row per run, then their mean, then what the physics columns mean
    assert table.splitlines()[-2].startswith("mean") and "R_ref" in table.splitlines()[-1]


def test_evaluate_grid_data_reports_ssim_and_psnr() -> None:
    generator = torch.Generator().manual_seed(1)
    frames = torch.randn(4, 20, 16, 1, generator=generator).cumsum(dim=1)  # [T, nx, ny, C]
    graph = from_grid(frames, times=torch.arange(4.0), field_names=["w"])
    scaled = graph.clone()
    scaled.fields = graph.fields.clone()
    scaled.fields[2:] *= 1.3  # the oracle is exact at step 1 only
    exact = evaluate(Oracle(("w",)), [graph], progress=False)
    assert exact["per_step"]["ssim"]["w"] == pytest.approx([1.0] * 3)
    assert exact["per_step"]["psnr"]["w"] == [None] * 3  # infinite: exact prediction
    report = evaluate(Oracle(("w",), source=graph), [scaled], progress=False)
    # the same SSIM as that of the images folded back by to_grid (node order of the grid)
    predicted = to_grid(graph)[..., 0]  # [T, nx, ny]
    reference = to_grid(scaled)[..., 0]
    direct = ssim(predicted[1:], reference[1:])
    assert report["per_step"]["ssim"]["w"] == pytest.approx(direct.tolist(), abs=1e-10)
    assert report["per_step"]["ssim"]["w"][0] == pytest.approx(1.0)
    assert report["per_step"]["ssim"]["w"][1] < 1.0


def test_evaluate_rejects_other_fields(heat_data: Path) -> None:
    with pytest.raises(ValueError, match="the model predicts"):
        evaluate(Oracle(("U_x",)), heat_data, progress=False)


class NoisyOracle(Oracle):
    """The reference plus node noise of 0.2 K: the heat equation no longer holds."""

    def rollout(self, data: Any, steps: int, initial: torch.Tensor) -> torch.Tensor:
        frames = super().rollout(data, steps, initial)
        generator = torch.Generator().manual_seed(0)
        noise = 0.2 * torch.randn(frames[1:].shape, generator=generator)
        return torch.cat([frames[:1], frames[1:] + noise])


def test_evaluate_scores_the_physics_of_the_data_spec(heat_data: Path) -> None:
    """The heat equation of the spec: the reference scores R = R_ref, a scaled one more."""
    exact = evaluate(Oracle(("T",)), heat_data, split="test", progress=False)
    physics = exact["runs"][0]["physics"]
    assert physics["R"] > 0 and physics["R"] == pytest.approx(physics["R_ref"], rel=1e-12)
    assert physics["mse"] == 0.0 and physics["mse_r"] == pytest.approx(1.0)
    assert exact["physics"]["R"] == pytest.approx(physics["R"])
    noisy = evaluate(NoisyOracle(("T",)), heat_data, split="test", progress=False)
    assert noisy["runs"][0]["physics"]["R"] > 2 * physics["R"]
    assert noisy["runs"][0]["physics"]["mse"] > 0
    table = format_table(noisy)
    assert "R/R_ref" in table and "MSE-R" in table
    none = evaluate(Oracle(("T",)), heat_data, split="test", pde=None, progress=False)
    assert "physics" not in none and "physics" not in none["runs"][0]
    assert "R/R_ref" not in format_table(none)


def test_evaluate_refine_without_a_refiner_is_an_error(heat_data: Path) -> None:
    with pytest.raises(ValueError, match="no physics refiner"):
        evaluate(Oracle(("T",)), heat_data, split="test", refine=True, progress=False)


def test_evaluate_reports_rollout_scores_beside_the_baselines(heat_data: Path) -> None:
    from meshfield.evaluate import format_rollout_table

    exact = evaluate(Oracle(("T",)), heat_data, split="test", progress=False, pde=None)
    off = evaluate(Oracle(("T",), scale=1.1), heat_data, split="test", progress=False, pde=None)
    run = exact["runs"][0]
    assert run["scores"]["rel_l2"]["1"] == 0.0 and run["scores"]["rel_l2"]["mean"] == 0.0
    assert run["scores"]["rel_l2"]["50"] is None  # 6 steps only
    assert off["runs"][0]["scores"]["rel_l2"]["mean"] == pytest.approx(0.1, rel=1e-4)
    # the heat plate cools towards a steady state: both baselines have errors, the oracle none
    for name in ("persistence", "time_mean"):
        assert run["baselines"][name]["rel_l2"]["mean"] > 0.01
    assert exact["scores"]["rel_l2"]["mean"] == 0.0 and "persistence" in exact["baselines"]
    table = format_rollout_table(off)
    assert "persistence" in table and "time mean" in table and "0.1" in table


def test_evaluate_stops_on_a_non_finite_rollout(heat_data: Path, tmp_path: Path) -> None:
    from meshfield.errors import NonFiniteError

    out = tmp_path / "report.json"
    with pytest.raises(NonFiniteError, match="not finite from step 1"):
        evaluate(Oracle(("T",), scale=math.nan), heat_data, split="test", out=out, progress=False)
    assert not out.exists()
