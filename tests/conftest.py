from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


#: 3 training runs, 1 validation and 1 test run of 7 frames on a coarse plate (~200 nodes)
TINY_HEAT: dict[str, Any] = {
    "case": "heat_plate",
    "description": "tiny heat plate for the training tests",
    "mesh": {
        "generator": "plate_with_holes",
        "params": {"width": 2.0, "height": 1.0, "size": 0.2, "hole_size": 0.1},
    },
    "pde": {"name": "heat", "constants": {"T0": 0.0}},
    "conditions": {
        "alpha": {
            "units": "m^2/s",
            "train": [0.02, 0.05, 0.1],
            "val": [0.03],
            "test": [0.07],
        },
        "T_left": {"units": "K", "train": [1.5], "val": [1.5], "test": [1.5]},
        "T_hole": {"units": "K", "train": [-0.5], "val": [-0.5], "test": [-0.5]},
    },
    "time": {"spin_up": 0.0, "end": 1.5, "interval": 0.25},
    "fields": {"T": "K"},
    "solver": {"name": "p1_fem", "settings": {"dt": 0.05, "theta": 1.0}},
    "output": {"layout": "run_per_file", "dtype": "float32"},
}


@pytest.fixture(scope="session")
def heat_spec() -> dict[str, Any]:
    """The tiny heat_plate spec as a dict (a copy)."""
    return copy.deepcopy(TINY_HEAT)


@pytest.fixture(scope="session")
def heat_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset folder of :data:`TINY_HEAT` (generated once per session)."""
    from meshfield.cases.datagen import datagen
    from meshfield.data import load_spec

    out = tmp_path_factory.mktemp("heat") / "data"
    return datagen(load_spec(copy.deepcopy(TINY_HEAT)), out, progress=False)
