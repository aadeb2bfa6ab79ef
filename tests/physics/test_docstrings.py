"""The examples in the physics docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "meshfield.physics",
    "meshfield.physics.autograd",
    "meshfield.physics.mesh_ops",
    "meshfield.physics.navier_stokes",
    "meshfield.physics.pde",
    "meshfield.physics.time",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
