"""Pictures of results: residual maps, animations and error curves.

PyVista renders off-screen where VTK can (EGL or OSMesa without a display); otherwise 2D meshes
are drawn with matplotlib. Every function takes ``backend="auto" | "pyvista" | "matplotlib"``.
PyVista and matplotlib are imported only when a picture is drawn.
"""

from __future__ import annotations

from meshfield.viz._backend import pyvista_can_render
from meshfield.viz.animate import animate
from meshfield.viz.curves import error_curves
from meshfield.viz.residual_map import Panel, residual_map, residual_map_panels

__all__ = [
    "Panel",
    "animate",
    "error_curves",
    "pyvista_can_render",
    "residual_map",
    "residual_map_panels",
]
