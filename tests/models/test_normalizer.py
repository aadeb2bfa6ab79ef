"""Normalization statistics kept with the model."""

from __future__ import annotations

import json

import pytest
import torch
from _model_helpers import grid_mesh

from meshfield.data import FieldStats, compute_stats
from meshfield.data.stats import STD_FLOOR, safe_std
from meshfield.models import Normalizer
from meshfield.models.normalizer import STD_FLOOR as MODEL_STD_FLOOR
from meshfield.pretrained import PRETRAINED_ROOT


def test_identity_by_default() -> None:
    norm = Normalizer(2, 1)
    x = torch.randn(5, 2)
    torch.testing.assert_close(norm.normalize_fields(x), x)
    torch.testing.assert_close(norm.apply_delta(x, torch.ones(5, 2)), x + 1)


def test_fit_matches_direct_statistics() -> None:
    graphs = [grid_mesh(5, seed=1, cond=1.0), grid_mesh(6, seed=2, cond=3.0)]
    norm = Normalizer(2, 1).fit(graphs)
    fields = torch.cat([g.fields.reshape(-1, 2) for g in graphs]).double()
    deltas = torch.cat(
        [(g.fields[1:] - g.fields[:-1]).reshape(-1, 2) for g in graphs]
    ).double()
    torch.testing.assert_close(
        norm.field_mean.double(), fields.mean(0), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        norm.field_std.double(), fields.std(0, unbiased=False), atol=1e-6, rtol=1e-5
    )
    torch.testing.assert_close(
        norm.delta_std.double(), deltas.std(0, unbiased=False), atol=1e-6, rtol=1e-5
    )
    assert norm.cond_mean.tolist() == [2.0] and norm.cond_std.tolist() == [1.0]
    assert norm.cond_min.tolist() == [1.0] and norm.cond_max.tolist() == [3.0]
    assert norm.pos_center.tolist() == [0.5, 0.5] and norm.pos_scale.tolist() == [0.5]


def test_round_trips() -> None:
    norm = Normalizer(2, 1).fit([grid_mesh(5)])
    x = torch.randn(4, 2)
    torch.testing.assert_close(norm.denormalize_fields(norm.normalize_fields(x)), x)
    following = torch.randn(4, 2)
    torch.testing.assert_close(
        norm.apply_delta(x, norm.normalize_delta(x, following)), following
    )
    copy = Normalizer(2, 1).load_dict(norm.to_dict())
    for name, value in norm.state_dict().items():
        assert torch.equal(copy.state_dict()[name], value)


def test_constant_channel_is_not_scaled() -> None:
    norm = Normalizer(1).set_stats(field_std=[0.0])
    assert norm.field_std.tolist() == [1.0]


def test_field_stats() -> None:
    class Stats:  # the fields of meshfield.data.FieldStats
        field_names = ("u", "v")
        mean, std = (1.0, 2.0), (3.0, 4.0)
        cond_names, cond_mean, cond_std = ("c",), (5.0,), (6.0,)

    norm = Normalizer(2, 1).load_field_stats(Stats())
    assert norm.field_std.tolist() == [3.0, 4.0] and norm.cond_mean.tolist() == [5.0]
    with pytest.raises(ValueError, match="do not fit a normalizer of 3 fields"):
        Normalizer(3, 1).load_field_stats(Stats())


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"Unknown statistics \['mean'\]"):
        Normalizer(1).set_stats(mean=[0.0])
    with pytest.raises(ValueError, match="Expected 2 values for 'field_mean'"):
        Normalizer(2).set_stats(field_mean=[0.0])
    with pytest.raises(ValueError, match="Expected finite values"):
        Normalizer(1).set_stats(field_mean=[float("nan")])
    with pytest.raises(ValueError, match="at least one graph"):
        Normalizer(1).fit([])
    assert repr(Normalizer(2, 1)) == "Normalizer(num_fields=2, num_cond=1, dim=2)"


def test_fit_and_compute_stats_agree() -> None:
    # one algorithm: the same float64 mean and std, so the same float32 buffers
    graphs = [grid_mesh(5, seed=1, cond=1.0), grid_mesh(7, seed=2, cond=3.0, steps=3)]
    graphs[1].fields = graphs[1].fields + 1e3  # an offset that naive sums would cancel badly
    stats = compute_stats(graphs)
    norm = Normalizer(2, 1).fit(graphs)
    assert torch.equal(norm.field_mean, torch.tensor(stats.mean, dtype=torch.float32))
    assert torch.equal(norm.field_std, torch.tensor(stats.std, dtype=torch.float32))
    assert torch.equal(norm.cond_mean, torch.tensor(stats.cond_mean, dtype=torch.float32))
    assert torch.equal(norm.cond_std, torch.tensor(stats.cond_std, dtype=torch.float32))
    from_stats = Normalizer(2, 1).load_field_stats(stats)
    assert torch.equal(from_stats.field_mean, norm.field_mean)
    assert torch.equal(from_stats.field_std, norm.field_std)
    x = graphs[0].fields
    assert torch.equal(stats.normalize(x), norm.normalize_fields(x))
    # in float64 buffers the values are the very same, not only after rounding to float32
    wide = Normalizer(2, 1).double().fit(graphs)
    assert wide.field_mean.tolist() == list(stats.mean)
    assert wide.field_std.tolist() == list(stats.std)
    assert wide.cond_std.tolist() == list(stats.cond_std)


@pytest.mark.parametrize("value", [0.0, 0.1, 101325.3, 1e6 + 0.1])
def test_a_constant_channel_is_handled_alike(value: float) -> None:
    graphs = []
    for seed in range(3):
        graph = grid_mesh(4, seed=seed)
        constant = torch.full_like(graph.fields[..., :1], value, dtype=torch.float64)
        graph.fields = torch.cat([constant, graph.fields.double()], -1)
        graph.field_names = ["k", "u", "v"]
        graphs.append(graph)
    stats = compute_stats(graphs)
    norm = Normalizer(3, 1).fit(graphs)
    assert stats.std[0] == 0.0  # stored as computed
    assert norm.field_std[0] == 1.0 and norm.delta_std[0] == 1.0  # the divisor
    assert torch.equal(norm.field_std, safe_std(torch.tensor(stats.std, dtype=torch.float32)))
    x = graphs[0].fields.float()
    normalized = norm.normalize_fields(x)
    assert torch.isfinite(normalized).all()
    assert torch.equal(normalized[..., 0], torch.zeros_like(normalized[..., 0]))
    assert torch.equal(stats.normalize(x), normalized)
    assert torch.equal(stats.denormalize(normalized), norm.denormalize_fields(normalized))


def test_one_floor_for_both() -> None:
    assert MODEL_STD_FLOOR == STD_FLOOR
    std = (0.0, 1e-13, STD_FLOOR, 2e-12, 1e-6, 3.0)
    stats = FieldStats(field_names=tuple("abcdef"), mean=(0.5,) * 6, std=std)
    norm = Normalizer(6).set_stats(field_mean=[0.5] * 6, field_std=list(std))
    assert norm.field_std.tolist() == [1.0, 1.0, 1.0] + [
        torch.tensor(v, dtype=torch.float32).item() for v in std[3:]
    ]
    x = torch.linspace(-1, 2, 12).reshape(2, 6)
    assert torch.equal(stats.normalize(x), norm.normalize_fields(x))
    assert torch.equal(stats.denormalize(x), norm.denormalize_fields(x))


def test_stored_statistics_are_used_as_stored() -> None:
    # the shipped model's statistics load unchanged (none is at or below the floor)
    config = PRETRAINED_ROOT / "cylinder_wake" / "config.json"
    stored = json.loads(config.read_text(encoding="utf-8"))["normalization"]
    norm = Normalizer(3, 1).load_dict(stored)
    for name, values in stored.items():
        assert getattr(norm, name).tolist() == values, name
    assert norm.to_dict() == stored

