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
