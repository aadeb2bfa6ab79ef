"""Trajectory scores and the results table shared by the case examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshfield.cases import taylor_green
from meshfield.data import load_spec
from meshfield.metrics import (
    format_scores_table,
    graph_conditions,
    mean_scores,
    trajectory_scores,
)
from meshfield.physics import NavierStokes

SPEC = Path(__file__).parents[2] / "data_specs" / "taylor_green.yaml"


@pytest.fixture(scope="module")
def vortex(tmp_path_factory):
    spec = load_spec(SPEC)
    nu = spec.runs()[0].conditions
    return taylor_green.simulate(spec, dict(nu), tmp_path_factory.mktemp("tg"))


def test_the_reference_scores_zero_error_and_its_own_residual(vortex) -> None:
    names = list(vortex.field_names)
    scale = vortex.fields.float().std(dim=(0, 1))
    pde = NavierStokes(viscosity="nu", rho=1.0)
    exact = trajectory_scores(
        vortex.fields.float(), vortex, pde, scale=scale, field_names=names
    )
    assert exact["mse"] == 0 and exact["rel_l2"] == 0
    assert exact["R"] == pytest.approx(exact["R_ref"], rel=1e-6)
    assert len(exact["rel_l2_steps"]) == len(exact["R_steps"]) == vortex.fields.size(0)

    shifted = vortex.fields.float() + 0.1 * scale
    worse = trajectory_scores(
        shifted, vortex, pde, scale=scale, field_names=names, history=1
    )
    assert worse["mse"] == pytest.approx(
        0.01, rel=1e-3
    )  # 0.1 field scales off everywhere
    assert (
        worse["rel_l2"] > 0 and len(worse["rel_l2_steps"]) == vortex.fields.size(0) - 1
    )
    assert set(graph_conditions(vortex)) == set(vortex.cond_names)


def test_mean_and_table() -> None:
    a = {
        "mse": 1.0,
        "rel_l2": 0.5,
        "R": 4.0,
        "R_ref": 2.0,
        "mse_r": 3.0,
        "R_steps": [1.0],
    }
    b = {"mse": 3.0, "rel_l2": 1.5, "R": 8.0, "R_ref": 2.0, "mse_r": 7.0}
    mean = mean_scores([a, b])
    assert mean == {"mse": 2.0, "rel_l2": 1.0, "R": 6.0, "R_ref": 2.0, "mse_r": 5.0}
    lines = format_scores_table({"pretrained": mean}).splitlines()
    assert lines[0].split() == ["model", "MSE", "rel-L2", "R", "R/R_ref", "MSE-R"]
    assert lines[1].split() == ["pretrained", "2", "1", "6", "3", "5"]
    with pytest.raises(ValueError, match="at least one row"):
        mean_scores([])
