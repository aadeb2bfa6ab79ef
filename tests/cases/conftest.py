"""Tiny specs of the built-in cases: coarse meshes, few steps, a second or less per run."""

from __future__ import annotations

import copy
from typing import Any

import pytest

TINY_HEAT: dict[str, Any] = {
    "case": "heat_plate",
    "description": "tiny heat plate for tests",
    "mesh": {
        "generator": "plate_with_holes",
        "params": {"width": 2.0, "height": 1.0, "size": 0.2, "hole_size": 0.1},
    },
    "pde": {"name": "heat", "constants": {"T0": 0.0}},
    "conditions": {
        "alpha": {"units": "m^2/s", "train": [0.02, 0.05, 0.1], "val": [0.03], "test": [0.07]},
        "T_left": {"units": "K", "train": [1.5], "val": [1.5], "test": [1.5]},
        "T_hole": {"units": "K", "train": [-0.5], "val": [-0.5], "test": [-0.5]},
    },
    "time": {"spin_up": 0.0, "end": 1.0, "interval": 0.25},
    "fields": {"T": "K"},
    "solver": {"name": "p1_fem", "settings": {"dt": 0.05, "theta": 1.0}},
    "output": {"layout": "run_per_file", "dtype": "float32"},
}

TINY_TAYLOR_GREEN: dict[str, Any] = {
    "case": "taylor_green",
    "mesh": {"generator": "periodic_grid", "params": {"n": 16}},
    "pde": {"name": "navier_stokes", "constants": {"rho": 1.0}},
    "conditions": {"nu": {"units": "m^2/s", "train": [0.01, 0.05], "test": [0.1]}},
    "time": {"spin_up": 0.0, "end": 1.0, "interval": 0.5},
    "fields": {"U": "m/s", "p": "Pa"},
    "solver": {"name": "analytic"},
}


@pytest.fixture
def tiny_heat() -> dict[str, Any]:
    """A heat_plate spec as a dict (a fresh copy, free to modify): 5 runs of 5 snapshots."""
    return copy.deepcopy(TINY_HEAT)


@pytest.fixture(scope="session")
def tiny_heat_shared() -> dict[str, Any]:
    """The tiny heat_plate spec for session- and module-scoped fixtures; do not modify it."""
    return TINY_HEAT


@pytest.fixture
def tiny_taylor_green() -> dict[str, Any]:
    """A taylor_green spec as a dict: a 16 x 16 grid, 3 runs of 3 snapshots."""
    return copy.deepcopy(TINY_TAYLOR_GREEN)
