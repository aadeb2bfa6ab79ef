"""``error_curves``: per-step error curves of rollouts, side by side per metric."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["curves_figure", "error_curves"]

#: Metrics drawn on a logarithmic axis unless told otherwise: residuals span decades.
LOG_METRICS = ("R", "MSE-R", "residual")


def error_curves(
    curves: Mapping[str, Mapping[str, Any]],
    path: str | os.PathLike[str] | None = None,
    *,
    logy: Sequence[str] | None = None,
    steps: Any = None,
    xlabel: str = "rollout step",
    title: str | None = None,
    window_size: Sequence[int] | None = None,
) -> Any:
    """Draw per-step metrics over a rollout, one panel per metric, one line per run.

    Typical use compares a model before and after physics fine-tuning:
    ``{"pretrained": {"rel_l2": ..., "R": ...}, "fine-tuned": {"rel_l2": ..., "R": ...}}``.

    Parameters
    ----------
    curves
        ``{label: {metric: values over steps}}``; values are 1D (numpy, torch or lists).
    path
        Image file to write. default: ``None`` (return the image ``[H, W, 3]``)
    logy
        Metrics drawn on a logarithmic y axis (where all their values are positive).
        default: ``None`` (``"R"``, ``"MSE-R"`` and ``"residual"``)
    steps
        x values shared by all curves. default: ``None`` (``0, 1, ...`` per curve)
    xlabel
        Label of the x axis. default: ``"rollout step"``
    title
        Figure title. default: ``None``
    window_size
        Picture size ``(width, height)`` in pixels. default: ``None`` (360 x 300 per metric)

    Returns
    -------
    pathlib.Path or numpy.ndarray

    Raises
    ------
    ValueError
        If ``curves`` is empty or a curve is not 1D.

    Example
    -------
    >>> error_curves({"HMT": {"rel_l2": [0.01, 0.02], "R": [1e-3, 2e-3]}}, "errors.png")  # doctest: +SKIP
    PosixPath('errors.png')
    """
    figure, canvas = curves_figure(
        curves, logy=logy, steps=steps, xlabel=xlabel, title=title, window_size=window_size
    )
    dpi = figure.dpi
    try:
        if path is None:
            canvas.draw()
            return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
        path = Path(os.fspath(path)).expanduser()
        figure.savefig(os.fspath(path), dpi=dpi)
        return path
    finally:
        figure.clear()


def curves_figure(
    curves: Mapping[str, Mapping[str, Any]],
    *,
    logy: Sequence[str] | None = None,
    steps: Any = None,
    xlabel: str = "rollout step",
    title: str | None = None,
    window_size: Sequence[int] | None = None,
) -> tuple[Any, Any]:
    """The matplotlib ``Figure`` and Agg canvas behind :func:`error_curves` (same options)."""
    from meshfield.viz._mpl import import_matplotlib

    import_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not curves:
        msg = "curves is empty: nothing to draw"
        raise ValueError(msg)
    logy = LOG_METRICS if logy is None else tuple(logy)
    metrics: list[str] = []
    for runs in curves.values():
        metrics.extend(m for m in runs if m not in metrics)
    if not metrics:
        msg = "curves holds no metric"
        raise ValueError(msg)
    width, height = (360 * len(metrics), 300) if window_size is None else window_size
    dpi = 100
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        positive = True
        for label, runs in curves.items():
            if metric not in runs:
                continue
            raw = runs[metric]
            values = np.asarray(raw.detach().cpu() if hasattr(raw, "detach") else raw, dtype=float)
            if values.ndim != 1:
                msg = f"curves[{label!r}][{metric!r}] must be 1D (got shape {list(values.shape)})"
                raise ValueError(msg)
            x = np.arange(len(values)) if steps is None else np.asarray(steps)[: len(values)]
            ax.plot(x, values, marker="o" if len(values) <= 20 else None, ms=3, label=label)
            finite = values[np.isfinite(values)]
            positive = positive and bool(finite.size) and bool((finite > 0).all())
        if metric in logy and positive:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return figure, canvas
