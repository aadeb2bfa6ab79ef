"""Which renderer draws the pictures: PyVista off-screen where VTK can render, else matplotlib.

VTK wheels (9.4 and later) pick their OpenGL window at run time: X when a display is there,
otherwise EGL or OSMesa when the system libraries exist (on Debian/Ubuntu ``libegl1``,
``libegl-mesa0``, ``libgl1-mesa-dri``, or ``libosmesa6``). Whether one works is only known by
trying, and a failed attempt can take the process down, so the check renders a tiny picture in a
subprocess, once per process. The environment variable ``MESHFIELD_VIZ_BACKEND``
(``pyvista`` or ``matplotlib``) skips the check.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import warnings
from typing import Any

__all__ = ["BACKENDS", "pyvista_can_render", "resolve_backend", "setup_offscreen"]

BACKENDS = ("auto", "pyvista", "matplotlib")

#: Environment variable that forces a backend without the render check.
BACKEND_ENV = "MESHFIELD_VIZ_BACKEND"
_WINDOW_ENV = "VTK_DEFAULT_OPENGL_WINDOW"

# VTK alone (no PyVista import) keeps the check to a fraction of a second of CPU
_PROBE = """
import vtkmodules.vtkRenderingOpenGL2
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkFiltersSources import vtkSphereSource
from vtkmodules.vtkRenderingCore import (
    vtkActor, vtkPolyDataMapper, vtkRenderer, vtkRenderWindow, vtkWindowToImageFilter,
)
source = vtkSphereSource()
mapper = vtkPolyDataMapper()
mapper.SetInputConnection(source.GetOutputPort())
actor = vtkActor()
actor.SetMapper(mapper)
renderer = vtkRenderer()
renderer.AddActor(actor)
window = vtkRenderWindow()
window.SetOffScreenRendering(1)
window.SetSize(24, 24)
window.AddRenderer(renderer)
window.Render()
grab = vtkWindowToImageFilter()
grab.SetInput(window)
grab.Update()
pixels = vtk_to_numpy(grab.GetOutput().GetPointData().GetScalars())
print("ok" if float(pixels.std()) > 0 else "blank")
"""

INSTALL_HINT = (
    "VTK cannot render off-screen here. On Debian/Ubuntu install EGL and Mesa's software "
    "renderer: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (or OSMesa: libosmesa6), "
    "or use backend='matplotlib' for 2D meshes"
)


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _probe(window: str | None) -> bool:
    env = dict(os.environ)
    if window is not None:
        env[_WINDOW_ENV] = window
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip().endswith("ok")


@functools.lru_cache(maxsize=1)
def _working_window() -> tuple[bool, str | None]:
    if os.environ.get(_WINDOW_ENV) or _has_display():
        return _probe(None), None
    # no display: ask for a headless window directly, which also keeps VTK from logging a
    # failed X connection on every plotter
    for window in ("vtkEGLRenderWindow", "vtkOSOpenGLRenderWindow"):
        if _probe(window):
            return True, window
    return _probe(None), None


def pyvista_can_render() -> bool:
    """Whether PyVista renders off-screen in this environment (checked once per process)."""
    try:
        import pyvista  # noqa: F401
    except ImportError:
        return False
    return _working_window()[0]


def setup_offscreen(pv: Any) -> None:
    """Switch PyVista off-screen where there is no display; pick the headless OpenGL window.

    Plotters made here pass ``off_screen=True`` themselves; the global ``pyvista.OFF_SCREEN``
    is only set where no window could be shown anyway, so a session with a display keeps its
    interactive plots.
    """
    if not _has_display():
        pv.OFF_SCREEN = True
    if os.environ.get(BACKEND_ENV, "").strip().lower() == "pyvista":
        return  # forced: no render check, VTK picks its window itself
    _, window = _working_window()
    if window is not None and not os.environ.get(_WINDOW_ENV):
        os.environ[_WINDOW_ENV] = window


def resolve_backend(backend: str) -> str:
    """``"pyvista"`` or ``"matplotlib"`` for a requested ``backend``.

    Parameters
    ----------
    backend
        ``"auto"`` (PyVista if it renders here, else matplotlib with a warning), ``"pyvista"``
        or ``"matplotlib"``.

    Raises
    ------
    ValueError
        If ``backend`` is not one of :data:`BACKENDS`.
    RuntimeError
        If ``backend="pyvista"`` and VTK cannot render here.
    """
    if backend not in BACKENDS:
        msg = f"backend={backend!r} is not one of {', '.join(map(repr, BACKENDS))}"
        raise ValueError(msg)
    if backend == "auto":
        forced = os.environ.get(BACKEND_ENV, "").strip().lower()
        if forced in ("pyvista", "matplotlib"):
            return forced
        if forced:
            msg = f"{BACKEND_ENV}={forced!r} is not 'pyvista' or 'matplotlib'"
            raise ValueError(msg)
        if pyvista_can_render():
            return "pyvista"
        warnings.warn(f"{INSTALL_HINT}; drawing with matplotlib instead", stacklevel=3)
        return "matplotlib"
    forced = os.environ.get(BACKEND_ENV, "").strip().lower()
    if backend == "pyvista" and forced != "pyvista" and not pyvista_can_render():
        raise RuntimeError(INSTALL_HINT)
    return backend
