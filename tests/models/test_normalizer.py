"""Normalization statistics kept with the model."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import grid_mesh

from meshfield.models import Normalizer


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
