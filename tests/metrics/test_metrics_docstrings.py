"""The examples in the metrics docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["fields", "residual", "frequency"])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"meshfield.metrics.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
