"""meshfield._chunks.spans: the pieces of every chunked loop."""

from __future__ import annotations

import pytest

from meshfield._chunks import spans


@pytest.mark.parametrize(("total", "size"), [(0, 3), (1, 3), (6, 3), (7, 3), (7, 1), (5, 100)])
def test_spans_cover_the_range_once_in_order(total: int, size: int) -> None:
    parts = spans(total, size)
    covered = [i for part in parts for i in range(total)[part]]
    assert covered == list(range(total))
    assert all(0 < part.stop - part.start <= size for part in parts)
    # every piece but the last is full
    assert all(part.stop - part.start == size for part in parts[:-1])


@pytest.mark.parametrize(("total", "size"), [(-1, 3), (4, 0)])
def test_spans_reject_bad_bounds(total: int, size: int) -> None:
    with pytest.raises(ValueError, match="spans: expected total >= 0 and size >= 1"):
        spans(total, size)
