from __future__ import annotations

import os

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)
