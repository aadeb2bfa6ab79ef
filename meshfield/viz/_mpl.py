"""Matplotlib drawing of residual-map panels, for 2D meshes where VTK cannot render.

Cells are split into triangles (quads along a diagonal, polygons as fans from their first node)
and coloured with ``tripcolor`` from the node values. No pyplot: each figure has its own Agg
canvas, so nothing global changes and no display is needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from meshfield.errors import MissingDependencyError

__all__ = ["MplFigure", "import_matplotlib", "triangles"]

_DPI = 100


def import_matplotlib() -> Any:
    """Import matplotlib or raise :class:`MissingDependencyError` with the install command."""
    try:
        import matplotlib
    except ImportError as exc:
        msg = "This needs matplotlib: pip install matplotlib"
        raise MissingDependencyError(msg) from exc
    return matplotlib


def triangles(mesh: Any) -> np.ndarray:
    """The 2D cells of ``mesh`` split into triangles ``[M, 3]`` (node indices).

    Raises
    ------
    ValueError
        If the mesh has no triangles, quads or polygons.
    """
    cells = getattr(mesh, "cells", None) or {}
    pieces = []
    for cell_type, conn in cells.items():
        if cell_type != "triangle" and cell_type != "quad" and not cell_type.startswith("polygon"):
            continue
        conn = np.asarray(conn.detach().cpu() if hasattr(conn, "detach") else conn, dtype=np.int64)
        # fan from the first node: (0, j, j + 1) for j = 1 .. k - 2
        for j in range(1, conn.shape[1] - 1):
            pieces.append(conn[:, [0, j, j + 1]])
    if not pieces:
        msg = "The matplotlib backend draws meshes with triangles, quads or polygons only"
        raise ValueError(msg)
    return np.concatenate(pieces)


class MplFigure:
    """Panels drawn with matplotlib's ``tripcolor``; same interface as ``PyVistaFigure``.

    Parameters
    ----------
    panels
        What to draw (:func:`meshfield.viz.residual_map_panels`).
    mesh
        A 2D mesh.
    show_edges
        Draw the mesh edges. default: ``False``
    window_size
        Picture size in pixels. default: ``None`` (from the number of panels and the mesh)

    Raises
    ------
    ValueError
        If the mesh is 3D.
    """

    def __init__(
        self,
        panels: Sequence[Any],
        mesh: Any,
        *,
        show_edges: bool = False,
        window_size: Sequence[int] | None = None,
    ) -> None:
        from meshfield.viz.residual_map import layout, mesh_dim

        import_matplotlib()
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure
        from matplotlib.tri import Triangulation

        if mesh_dim(mesh) != 2:
            msg = (
                "The matplotlib backend draws 2D meshes only; 3D meshes need VTK rendering "
                "(backend='pyvista')"
            )
            raise ValueError(msg)
        self.panels = list(panels)
        rows, cols, size = layout(mesh, len(self.panels), window_size)
        pos = np.asarray(mesh.pos.detach().cpu(), dtype=np.float64)
        triangulation = Triangulation(pos[:, 0], pos[:, 1], triangles(mesh))
        self.figure = Figure(
            figsize=(size[0] / _DPI, size[1] / _DPI), dpi=_DPI, layout="constrained"
        )
        self.canvas = FigureCanvasAgg(self.figure)
        self._collections = []
        self._texts = []
        self.norms = []
        segments = None
        if show_edges:
            edges = np.asarray(mesh.edge_index.detach().cpu(), dtype=np.int64)
            edges = edges[:, edges[0] < edges[1]]
            segments = pos[edges.T][:, :, :2]
        for k, panel in enumerate(self.panels):
            ax = self.figure.add_subplot(rows, cols, k + 1)
            norm = Normalize(vmin=panel.clim[0], vmax=panel.clim[1])
            collection = ax.tripcolor(
                triangulation, panel.values[0], shading="gouraud", cmap=panel.cmap, norm=norm
            )
            if segments is not None:
                ax.add_collection(
                    LineCollection(segments, colors="#404040", linewidths=0.3, alpha=0.6)
                )
            bar = self.figure.colorbar(
                collection, ax=ax, orientation="horizontal", fraction=0.08, pad=0.04
            )
            bar.set_label(panel.title, fontsize=9)
            bar.ax.tick_params(labelsize=8)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.text(0.0, 1.02, panel.label, transform=ax.transAxes, fontsize=9, va="bottom")
            self._texts.append(
                ax.text(1.0, 1.02, "", transform=ax.transAxes, fontsize=8, va="bottom", ha="right")
            )
            self._collections.append(collection)
            self.norms.append(norm)

    def update(self, frame: int, text: str | None = None) -> None:
        """Show the values of the ``frame``-th step of every panel, and ``text`` top right."""
        for panel, collection in zip(self.panels, self._collections):
            collection.set_array(panel.values[frame])
        if text is not None:
            self._texts[0].set_text(text)

    def image(self, path: str | os.PathLike[str] | None = None) -> np.ndarray:
        """The current picture ``[H, W, 3]`` (uint8), written to ``path`` if given."""
        self.canvas.draw()
        rgba = np.asarray(self.canvas.buffer_rgba())
        if path is not None:
            self.figure.savefig(os.fspath(path), dpi=_DPI)
        return np.ascontiguousarray(rgba[..., :3])

    @property
    def clims(self) -> list[tuple[float, float]]:
        """The colour range of every panel, as matplotlib draws it."""
        return [(float(n.vmin), float(n.vmax)) for n in self.norms]

    def close(self) -> None:
        """Release the figure."""
        self.figure.clear()
