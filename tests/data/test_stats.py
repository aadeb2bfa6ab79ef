"""The one algorithm for normalization statistics (meshfield.data.stats) and compute_stats on it."""

from __future__ import annotations

import pytest
import torch

from meshfield.data import FieldStats, MeshGraph, compute_stats
from meshfield.data.stats import STD_FLOOR, Moments, safe_std


def _values(seed: int, shape: tuple[int, ...], offset: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return offset + torch.randn(*shape, generator=g, dtype=torch.float64)


def _graph(fields: torch.Tensor, cond: float | None = None) -> MeshGraph:
    graph = MeshGraph(fields=fields)
    graph.field_names = [f"f{c}" for c in range(fields.shape[-1])]
    if cond is not None:
        graph.cond = torch.tensor([cond])
        graph.cond_names = ["k"]
    return graph


def test_moments_of_one_chunk_are_the_population_statistics() -> None:
    values = _values(0, (7, 11, 3), offset=5.0)
    moments = Moments(3).add(values)
    flat = values.reshape(-1, 3)
    assert moments.count == 77
    torch.testing.assert_close(moments.mean, flat.mean(0), rtol=0, atol=1e-14)
    torch.testing.assert_close(moments.std, flat.std(0, correction=0), rtol=1e-13, atol=0)
    assert moments.mean.dtype == moments.std.dtype == torch.float64


def test_merging_chunks_equals_the_statistics_of_their_concatenation() -> None:
    chunks = [_values(seed, (n, 3), offset=1e3) for seed, n in enumerate((1, 5, 40, 2, 17))]
    whole = torch.cat(chunks)
    one = Moments(3).add(whole)
    streamed = Moments(3)
    for chunk in chunks:
        streamed.add(chunk)
    # two halves summarized apart, then merged (as separate workers would)
    left, right = Moments(3), Moments(3)
    for chunk in chunks[:2]:
        left.add(chunk)
    for chunk in chunks[2:]:
        right.add(chunk)
    merged = left.merge(right)
    for moments in (streamed, merged):
        assert moments.count == one.count == whole.shape[0]
        torch.testing.assert_close(moments.mean, one.mean, rtol=1e-15, atol=0)
        torch.testing.assert_close(moments.std, one.std, rtol=1e-12, atol=0)
    torch.testing.assert_close(one.std, whole.std(0, correction=0), rtol=1e-12, atol=0)
    # merging nothing, or into nothing, changes nothing
    mean, m2, count = merged.mean.clone(), merged.m2.clone(), merged.count
    merged.merge(Moments(3)).add(torch.zeros(0, 3))
    assert merged.count == count
    assert torch.equal(merged.mean, mean) and torch.equal(merged.m2, m2)
    empty_first = Moments(3).merge(one)
    assert torch.equal(empty_first.mean, one.mean) and torch.equal(empty_first.m2, one.m2)


def test_compute_stats_of_chunked_runs_equals_the_stats_of_the_concatenation() -> None:
    fields = _values(3, (12, 30, 2), offset=-40.0)
    whole = compute_stats([_graph(fields)])
    parts = compute_stats([_graph(fields[:5]), _graph(fields[5:6]), _graph(fields[6:])])
    assert parts.count == whole.count == 12 * 30
    assert parts.mean == pytest.approx(whole.mean, rel=1e-14)
    assert parts.std == pytest.approx(whole.std, rel=1e-12)
    direct = fields.reshape(-1, 2)
    assert whole.std == pytest.approx(direct.std(0, correction=0).tolist(), rel=1e-12)


@pytest.mark.parametrize("value", [0.0, 0.1, -3.7, 101325.0, 1e9])
def test_a_constant_channel_has_std_exactly_zero_and_is_centred(value: float) -> None:
    live = _values(4, (6, 9, 1))
    fields = torch.cat([torch.full((6, 9, 1), value, dtype=torch.float64), live], -1)
    stats = compute_stats([_graph(fields[:2]), _graph(fields[2:3]), _graph(fields[3:])])
    assert stats.std[0] == 0.0 and stats.mean[0] == value
    assert stats.std[1] > 0
    for dtype in (torch.float32, torch.float64):
        x = fields.to(dtype)
        normalized = stats.normalize(x)
        assert torch.isfinite(normalized).all()
        assert torch.equal(normalized[..., 0], torch.zeros_like(normalized[..., 0]))
        torch.testing.assert_close(stats.denormalize(normalized), x)


def test_the_floor_rule() -> None:
    std = torch.tensor([0.0, 1e-13, STD_FLOOR, 2e-12, 1e-6, 3.0, float("nan")], dtype=torch.float64)
    assert safe_std(std).tolist() == [1.0, 1.0, 1.0, 2e-12, 1e-6, 3.0, 1.0]
    # FieldStats divides by the same divisor, in the dtype of the fields
    stats = FieldStats(field_names=tuple("abcdef"), mean=(0.0,) * 6, std=tuple(std[:6].tolist()))
    x = torch.ones(2, 6, dtype=torch.float64)
    assert torch.equal(stats.normalize(x), x / safe_std(std[:6]))
    assert torch.equal(stats.denormalize(x), x * safe_std(std[:6]))


def test_conditions_are_one_sample_per_run() -> None:
    fields = _values(5, (2, 4, 1))
    stats = compute_stats([_graph(fields, 1.0), _graph(fields, 2.0), _graph(fields, 6.0)])
    assert stats.cond_names == ("k",)
    assert stats.cond_mean == pytest.approx((3.0,), rel=1e-15)
    assert stats.cond_std == pytest.approx((torch.tensor([1.0, 2.0, 6.0]).std(correction=0).item(),))
    # conditions of every run, or none
    assert compute_stats([_graph(fields, 1.0), _graph(fields)]).cond_mean == ()


def test_moments_errors() -> None:
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 3\]"):
        Moments(3).add(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="moments of 3 channels"):
        Moments(3).merge(Moments(2))
    assert repr(Moments(2).add(torch.zeros(5, 2))) == "Moments(channels=2, count=5)"
    assert Moments(2).std.tolist() == [0.0, 0.0]
