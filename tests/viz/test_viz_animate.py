from __future__ import annotations

import importlib
import importlib.util
import itertools

import numpy as np
import pytest
from PIL import Image
from viz_helpers import make_result

from meshfield.errors import MissingDependencyError
from meshfield.viz import animate, residual_map_panels

FRAME = (300, 220)


def _frames(path) -> list[np.ndarray]:
    frames = []
    with Image.open(path) as gif:
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB")))
    return frames


def test_gif_has_one_frame_per_step(result, backend, tmp_path):
    out = animate(
        result,
        field="U",
        path=tmp_path / "wake.gif",
        backend=backend,
        window_size=FRAME,
        progress=False,
    )
    assert out == tmp_path / "wake.gif"
    frames = _frames(out)
    assert len(frames) == result.num_steps
    assert frames[0].shape == (FRAME[1], FRAME[0], 3)
    for frame in frames:
        assert frame.std() > 10
    # the step text (and the growing field) changes every frame
    assert all(np.abs(a.astype(int) - b).mean() > 0 for a, b in itertools.pairwise(frames))


def test_chosen_steps_and_panels(result, tmp_path):
    out = animate(
        result,
        field="p",
        path=tmp_path / "p.gif",
        steps=[0, -1],
        residual=True,
        error=True,
        backend="matplotlib",
        window_size=(400, 300),
        fps=4,
        progress=False,
    )
    assert len(_frames(out)) == 2
    with Image.open(out) as gif:
        assert gif.info["duration"] == 250


def test_bad_arguments(result, tmp_path):
    with pytest.raises(ValueError, match=r"\.gif, \.mp4"):
        animate(result, path=tmp_path / "wake.avi", backend="matplotlib")
    with pytest.raises(ValueError, match="fps"):
        animate(result, path=tmp_path / "wake.gif", fps=0, backend="matplotlib")
    with pytest.raises(ValueError, match="empty"):
        animate(result, path=tmp_path / "wake.gif", steps=[], backend="matplotlib")
    with pytest.raises(IndexError):
        animate(result, path=tmp_path / "wake.gif", steps=[99], backend="matplotlib")
    bare = make_result(2, reference=False)
    with pytest.raises(ValueError, match="need a reference"):
        animate(bare, path=tmp_path / "wake.gif", error=True, backend="matplotlib")


@pytest.mark.skipif(
    importlib.util.find_spec("imageio_ffmpeg") is not None, reason="imageio-ffmpeg is installed"
)
def test_mp4_without_ffmpeg_says_what_to_install(result, tmp_path):
    with pytest.raises(MissingDependencyError, match="pip install imageio imageio-ffmpeg"):
        animate(
            result,
            path=tmp_path / "wake.mp4",
            backend="matplotlib",
            window_size=FRAME,
            progress=False,
        )


def test_panels_and_fixed_ranges(result, tmp_path, monkeypatch):
    # the package's name residual_map is the function; the module is in sys.modules
    module = importlib.import_module("meshfield.viz.residual_map")
    seen = []
    make_figure = module.make_figure

    def spy(panels, mesh, **options):
        seen.append(panels)
        return make_figure(panels, mesh, **options)

    monkeypatch.setattr(module, "make_figure", spy)
    animate(
        result,
        field="p",
        path=tmp_path / "a.gif",
        error=True,
        residual=True,
        backend="matplotlib",
        window_size=(300, 300),
        progress=False,
    )
    animate(
        result,
        field="p",
        path=tmp_path / "b.gif",
        reference=True,
        backend="matplotlib",
        window_size=(300, 200),
        progress=False,
    )
    assert [p.kind for p in seen[0]] == ["prediction", "error", "residual"]
    assert [p.kind for p in seen[1]] == ["prediction", "reference"]
    every_step = residual_map_panels(result, steps=range(result.num_steps), field="p")
    assert seen[0][0].clim == every_step[0].clim
    assert seen[0][1].clim == every_step[2].clim
    assert seen[0][0].values.shape == (result.num_steps, result.num_nodes)
