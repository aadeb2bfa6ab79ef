"""``animate``: a rollout as a GIF or MP4, with the step and time in every frame."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.errors import MissingDependencyError

__all__ = ["animate", "write_frames"]

_SUFFIXES = (".gif", ".mp4")


def write_frames(frames: Iterable[np.ndarray], path: Path, *, fps: float) -> Path:
    """Write RGB frames ``[H, W, 3]`` (uint8) as a GIF (Pillow) or MP4 (imageio-ffmpeg).

    Raises
    ------
    ValueError
        If the suffix is not ``.gif`` or ``.mp4``, or there are no frames.
    MissingDependencyError
        For ``.mp4`` without imageio and imageio-ffmpeg, or ``.gif`` without Pillow.
    """
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        msg = f"Cannot write {path}: unknown extension {path.suffix!r}; supported: .gif, .mp4"
        raise ValueError(msg)
    if suffix == ".mp4":
        try:
            import imageio.v2 as imageio
            import imageio_ffmpeg  # noqa: F401
        except ImportError as exc:
            msg = "Writing .mp4 needs imageio with ffmpeg: pip install imageio imageio-ffmpeg"
            raise MissingDependencyError(msg) from exc
        count = 0
        with imageio.get_writer(os.fspath(path), fps=fps, macro_block_size=1) as writer:
            for frame in frames:
                writer.append_data(frame)
                count += 1
        if count == 0:
            msg = "No frames to write"
            raise ValueError(msg)
        return path
    try:
        from PIL import Image
    except ImportError as exc:
        msg = "Writing .gif needs Pillow: pip install pillow"
        raise MissingDependencyError(msg) from exc
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    if not images:
        msg = "No frames to write"
        raise ValueError(msg)
    # GIF frame delays are whole hundredths of a second
    duration = max(round(1000.0 / fps / 10.0) * 10, 20)
    images[0].save(
        os.fspath(path),
        save_all=True,
        append_images=images[1:],
        duration=duration,
        loop=0,
        optimize=False,
        disposal=1,
    )
    return path


def animate(
    result: Any,
    *,
    field: str | None = None,
    path: str | os.PathLike[str] = "rollout.gif",
    fps: float = 10,
    steps: Sequence[int] | None = None,
    reference: Any = None,
    error: bool = False,
    residual: bool = False,
    component: int | str | None = None,
    show_edges: bool = False,
    backend: str = "auto",
    window_size: Sequence[int] | None = None,
    progress: bool = False,
    robust: bool = True,
) -> Path:
    """Write the rollout of a result as an animation.

    Every frame shows the step and its time; the colour range of each panel is fixed over all
    frames (see :func:`meshfield.viz.residual_map_panels`), so colours mean the same value
    throughout.

    Parameters
    ----------
    result
        A :class:`~meshfield.FieldResult`.
    field
        Channel (``"p"``) or vector group (``"U"``, drawn as its magnitude). default: ``None``
        (the first field)
    path
        ``.gif`` (Pillow) or ``.mp4`` (needs ``imageio`` and ``imageio-ffmpeg``).
        default: ``"rollout.gif"``
    fps
        Frames per second. default: ``10``
    steps
        Time steps to show, in order. default: ``None`` (all)
    reference
        Draw the reference beside the prediction: ``True`` for ``result.reference``, or
        values ``[T, N, C]``. default: ``None`` (no reference panel)
    error
        Add the |error| panel (against ``reference``, else ``result.reference``).
        default: ``False``
    residual
        Add the residual panel when the result has a residual. default: ``False``
    component
        Residual component (see :func:`meshfield.viz.residual_map`). default: ``None``
    robust
        Error and residual colour ranges end at the 99th percentile of their values over all
        frames instead of the maximum. default: ``True``
    show_edges
        Draw the mesh edges. default: ``False``
    backend
        ``"auto"``, ``"pyvista"`` or ``"matplotlib"``. default: ``"auto"``
    window_size
        Frame size ``(width, height)`` in pixels. default: ``None``
    progress
        Show a progress bar. default: ``False``

    Returns
    -------
    pathlib.Path
        The written file.

    Example
    -------
    >>> meshfield.viz.animate(result, field="U", path="wake.gif")  # doctest: +SKIP
    PosixPath('wake.gif')
    """
    from meshfield._progress import progress_bar

    from meshfield.viz.residual_map import make_figure, residual_map_panels, step_text

    path = Path(os.fspath(path)).expanduser()
    if path.suffix.lower() not in _SUFFIXES:
        msg = f"Cannot write {path}: unknown extension {path.suffix!r}; supported: .gif, .mp4"
        raise ValueError(msg)
    if fps <= 0:
        msg = f"fps must be positive (got {fps})"
        raise ValueError(msg)
    index = [result.step_index(s) for s in (range(result.num_steps) if steps is None else steps)]
    if not index:
        msg = "steps is empty: nothing to animate"
        raise ValueError(msg)
    show_reference = reference is not None and reference is not False
    values = None if isinstance(reference, bool) else reference
    if (show_reference or error) and values is None and result.reference is None:
        msg = "The reference and error panels need a reference; the result has none"
        raise ValueError(msg)
    panels = residual_map_panels(
        result,
        steps=index,
        field=field,
        reference=values,
        residual=residual,
        error=error,
        component=component,
        robust=robust,
    )
    shown = {"prediction", "residual"}
    shown |= {"reference"} if show_reference else set()
    shown |= {"error"} if error else set()
    panels = [p for p in panels if p.kind in shown]
    figure = make_figure(
        panels, result.mesh, backend=backend, show_edges=show_edges, window_size=window_size
    )

    def frames() -> Iterable[np.ndarray]:
        for frame, step in enumerate(
            progress_bar(index, desc="frames", unit="frame", enabled=progress)
        ):
            figure.update(frame, step_text(result, step))
            yield figure.image()

    try:
        return write_frames(frames(), path, fps=fps)
    finally:
        figure.close()
