"""Fixtures of the model tests."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import grid_mesh

from meshfield.data import MeshGraph


@pytest.fixture
def mesh() -> MeshGraph:
    return grid_mesh()


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)
