"""meshfield.runtime: tune_malloc reuses large blocks instead of page-faulting them again; one
cache home for compiled steps and built kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import meshfield.runtime as runtime

# allocate and free a 64 MiB tensor many times; count the minor page faults of the last 20
# (glibc's heap takes a few rounds, how many varies, before aligned blocks of one size find a
# free fit; then they need no new pages)
_PROBE = """
import json, resource, sys
import torch
import meshfield.runtime as runtime
applied = runtime.tune_malloc() if sys.argv[1] == "tuned" else False
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(16):
    torch.ones(2**24).sum()
before = faults()
for _ in range(20):
    torch.ones(2**24).sum()
print(json.dumps({"applied": applied, "faults": faults() - before,
                  "setting": runtime.malloc_setting()}))
"""


def _probe(mode: str, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_tuned_malloc_reuses_large_blocks() -> None:
    tuned, default = _probe("tuned"), _probe("default")
    assert tuned["applied"] is True
    assert "kept in the heap" in tuned["setting"]
    # 20 x 64 MiB through fresh maps is 20 x 16k page faults; reused heap memory needs none
    # once the heap has settled (allow three more rounds of growth)
    assert default["faults"] > 20 * 15_000
    assert tuned["faults"] <= 3 * 16_500


def test_environment_turns_it_off() -> None:
    result = _probe("tuned", MESHFIELD_TUNE_MALLOC="0")
    assert result["applied"] is False
    assert "MESHFIELD_TUNE_MALLOC=0" in result["setting"]


def test_compiled_steps_and_built_kernels_share_one_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from meshfield.nn.ssm import cpu_scan

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(runtime.COMPILE_CACHE_VARIABLE, raising=False)
    assert runtime.cache_home() == tmp_path / "meshfield"
    assert runtime.compile_cache_dir() == tmp_path / "meshfield" / "inductor"
    assert cpu_scan.kernel_dir() == tmp_path / "meshfield" / "kernels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert runtime.cache_home() == Path.home() / ".cache" / "meshfield"
