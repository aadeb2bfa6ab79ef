"""The fresh-process measurement: a child the system kills, or one that hangs, is reported."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from meshfield.bench._measure import measure

MODULE = __name__.rpartition(".")[2]


def killed_setup() -> tuple[Callable[[], None], dict[str, Any]]:
    """Dies the way the out-of-memory killer ends a process: SIGKILL, no report."""

    def call() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    return call, {}


def hanging_setup() -> tuple[Callable[[], None], dict[str, Any]]:
    return (lambda: time.sleep(60)), {}


def quick_setup() -> tuple[Callable[[], None], dict[str, Any]]:
    return (lambda: sum(range(1000))), {"items": 1000}


def test_a_measured_call() -> None:
    result = measure(f"{MODULE}:quick_setup", repeat=2, timeout=60)
    assert result.seconds >= 0 and result.extra["items"] == 1000
    # the child runs with the allocator setting of the meshfield command
    assert "kept in the heap" in result.extra["malloc"]


def test_the_environment_leaves_malloc_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHFIELD_TUNE_MALLOC", "0")
    result = measure(f"{MODULE}:quick_setup", repeat=1, timeout=60)
    assert result.extra["malloc"] == "system malloc defaults (MESHFIELD_TUNE_MALLOC=0)"


def test_a_child_with_glibc_defaults() -> None:
    # what meshfield bench model --system-malloc asks for, without touching this process
    result = measure(f"{MODULE}:quick_setup", repeat=1, timeout=60, tune_malloc=False)
    assert result.extra["malloc"] == "system malloc defaults"
    assert "MESHFIELD_TUNE_MALLOC" not in os.environ


def test_a_killed_child_is_reported_not_waited_for() -> None:
    start = time.monotonic()
    with pytest.raises(
        RuntimeError, match=r"died with exit code -9 \(killed: out of memory\?\)"
    ):
        measure(f"{MODULE}:killed_setup", repeat=1, timeout=120)
    assert time.monotonic() - start < 60  # not the whole timeout


def test_a_hanging_child_times_out() -> None:
    with pytest.raises(RuntimeError, match="timed out after 3 s"):
        measure(f"{MODULE}:hanging_setup", repeat=1, timeout=3)
