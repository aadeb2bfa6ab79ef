from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
from PIL import Image

from meshfield.errors import MissingDependencyError
from meshfield.viz import animate

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
