from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from viz_helpers import assert_not_blank

from meshfield.cli import main


@pytest.fixture(scope="module")
def saved(result, tmp_path_factory):
    return result.save(tmp_path_factory.mktemp("plot") / "wake.pvd")


def test_plot_writes_the_residual_map(saved, backend, tmp_path, capsys):
    out = tmp_path / "residual.png"
    code = main(
        [
            "plot",
            str(saved),
            "--field",
            "p",
            "--step",
            "-1",
            "--residual",
            "--out",
            str(out),
            "--backend",
            backend,
        ]
    )
    assert code == 0
    assert f"wrote {out}" in capsys.readouterr().out
    image = np.asarray(Image.open(out).convert("RGB"))
    assert_not_blank(image)


def test_plot_without_residual_and_as_animation(saved, tmp_path):
    still = tmp_path / "p.png"
    assert (
        main(
            [
                "plot",
                str(saved),
                "--no-residual",
                "--step",
                "0",
                "--out",
                str(still),
                "--backend",
                "matplotlib",
            ]
        )
        == 0
    )
    movie = tmp_path / "p.gif"
    assert (
        main(["plot", str(saved), "--field", "U", "--out", str(movie), "--backend", "matplotlib"])
        == 0
    )
    with Image.open(movie) as gif:
        assert gif.n_frames == 4


def test_plot_reports_bad_input(saved, tmp_path, capsys):
    assert (
        main(
            [
                "plot",
                str(saved),
                "--field",
                "T",
                "--out",
                str(tmp_path / "x.png"),
                "--backend",
                "matplotlib",
            ]
        )
        == 2
    )
    assert "U_x, U_y, p" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing.pvd"), "--out", str(tmp_path / "x.png")]) == 2
    assert "not found" in capsys.readouterr().err


def test_full_range_changes_the_error_and_residual_colours(saved, tmp_path):
    pictures = []
    for extra in ([], ["--full-range"]):
        out = tmp_path / f"map{len(extra)}.png"
        args = ["plot", str(saved), "--field", "p", "--out", str(out), "--backend", "matplotlib"]
        assert main(args + extra) == 0
        pictures.append(np.asarray(Image.open(out).convert("RGB")).astype(np.int16))
    robust, full = pictures
    assert robust.shape == full.shape
    # the colour ranges of the error and residual panels end lower by default: brighter pixels
    assert np.abs(robust - full).mean() > 1.0
