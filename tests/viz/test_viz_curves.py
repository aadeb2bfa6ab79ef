from __future__ import annotations

import numpy as np
import pytest
import torch
from viz_helpers import assert_not_blank

from meshfield.viz import error_curves
from meshfield.viz.curves import curves_figure

CURVES = {
    "pretrained": {"rel_l2": np.linspace(0.01, 0.1, 12), "R": np.logspace(-3, -1, 12)},
    "fine-tuned": {
        "rel_l2": torch.linspace(0.01, 0.08, 12),
        "R": [1e-4 * 1.5**k for k in range(12)],
    },
}


def test_one_panel_per_metric_log_y_for_the_residual():
    figure, _ = curves_figure(CURVES)
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["rel_l2", "R"]
    assert [ax.get_yscale() for ax in axes] == ["linear", "log"]
    for ax in axes:
        assert ax.get_xlabel() == "rollout step"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pretrained", "fine-tuned"]
        assert len(ax.get_lines()) == 2
    np.testing.assert_allclose(axes[1].get_lines()[1].get_ydata(), CURVES["fine-tuned"]["R"])


def test_log_scale_needs_positive_values():
    figure, _ = curves_figure({"run": {"R": [0.0, 1.0, 2.0]}})
    assert figure.axes[0].get_yscale() == "linear"
    figure, _ = curves_figure({"run": {"rel_l2": [0.1, 1.0]}}, logy=["rel_l2"])
    assert figure.axes[0].get_yscale() == "log"


def test_writes_or_returns_a_picture(tmp_path):
    out = error_curves(CURVES, tmp_path / "errors.png")
    assert out == tmp_path / "errors.png" and out.stat().st_size > 1000
    image = error_curves(CURVES, window_size=(500, 250))
    assert image.shape == (250, 500, 3)
    assert_not_blank(image, min_colours=10)


def test_bad_curves():
    with pytest.raises(ValueError, match="empty"):
        error_curves({})
    with pytest.raises(ValueError, match="1D"):
        error_curves({"run": {"R": np.ones((2, 3))}})
