from __future__ import annotations

import importlib.util
import re

import pytest

from meshfield.bench import backbone


@pytest.mark.slow
def test_quick_run_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        backbone.main(
            ["--quick", "--sizes", "256,512", "--scan-length", "512", "--reference-length", "128"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "THP_MEM_ALLOC_ENABLE=" in out
    assert re.search(r"threads \d+", out)
    measured = r"\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+"
    for name in ("BiMamba block", "PatchAttention block", "FullAttention block"):
        for length in ("256", "512"):
            for passes in ("fwd", "fwd+bwd"):
                assert re.search(rf"{name}\s+{length}\s+{re.escape(passes)}{measured}", out), (
                    name,
                    length,
                    passes,
                )
    assert re.search(rf"BiMamba block \(reference scan\)\s+128\s+fwd{measured}", out)
    assert re.search(rf"BiMamba block \(checkpointed\)\s+512\s+fwd\+bwd{measured}", out)
    assert re.search(rf"ssd_chunked\s+512\s+fwd\+bwd{measured}", out)
    assert re.search(rf"ssd_reference\s+128\s+fwd\+bwd{measured}", out)
    mambapy = "mambapy selective_scan"
    if importlib.util.find_spec("mambapy") is None:
        assert "mambapy is not installed" in out
    else:
        assert re.search(rf"{mambapy}\s+512\s+fwd\+bwd{measured}", out)
    assert re.search(
        r"BiMamba block us/token fwd\+bwd at 512\s+[\d.]+\s+target <= 12 .*"
        r"arithmetic floor [\d.e+-]+ us/token: [\d.]+ MFLOP/token at \d+ GFLOP/s",
        out,
    )
    for label in (
        "time growth / L growth",
        "scan us/token fwd+bwd",
        "speed-up vs mambapy",
        "speed-up vs ssd_reference",
        "BiMamba vs FullAttention",
        "peak bytes/token",
    ):
        assert label in out, label


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(SystemExit):
        backbone.main(["--sizes", "0"])
