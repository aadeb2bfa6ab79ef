from __future__ import annotations

import pytest

from meshfield.viz import _backend
from meshfield.viz._backend import resolve_backend


def test_unknown_backend():
    with pytest.raises(ValueError, match="'auto', 'pyvista', 'matplotlib'"):
        resolve_backend("opengl")


def test_auto_falls_back_to_matplotlib_with_a_warning(monkeypatch):
    monkeypatch.delenv(_backend.BACKEND_ENV, raising=False)
    monkeypatch.setattr(_backend, "pyvista_can_render", lambda: False)
    with pytest.warns(UserWarning, match="libegl1"):
        assert resolve_backend("auto") == "matplotlib"
    with pytest.raises(RuntimeError, match="apt-get install"):
        resolve_backend("pyvista")
    assert resolve_backend("matplotlib") == "matplotlib"


def test_auto_uses_pyvista_where_it_renders(monkeypatch):
    monkeypatch.delenv(_backend.BACKEND_ENV, raising=False)
    monkeypatch.setattr(_backend, "pyvista_can_render", lambda: True)
    assert resolve_backend("auto") == "pyvista"
    assert resolve_backend("pyvista") == "pyvista"


def test_environment_variable_forces_a_backend(monkeypatch):
    monkeypatch.setattr(_backend, "pyvista_can_render", lambda: pytest.fail("checked"))
    monkeypatch.setenv(_backend.BACKEND_ENV, "matplotlib")
    assert resolve_backend("auto") == "matplotlib"
    monkeypatch.setenv(_backend.BACKEND_ENV, "pyvista")
    assert resolve_backend("auto") == "pyvista"
    assert resolve_backend("pyvista") == "pyvista"
    monkeypatch.setenv(_backend.BACKEND_ENV, "opengl")
    with pytest.raises(ValueError, match="MESHFIELD_VIZ_BACKEND"):
        resolve_backend("auto")


def test_render_check_agrees_with_a_render(can_render):
    """Where the check says VTK renders, a plotter in this process does render."""
    if not can_render:
        pytest.skip("VTK cannot render off-screen here")
    import pyvista as pv

    _backend.setup_offscreen(pv)
    plotter = pv.Plotter(off_screen=True, window_size=(40, 40))
    plotter.add_mesh(pv.Sphere(), color="red")
    image = plotter.screenshot(None, return_img=True)
    plotter.close()
    if not _backend._has_display():
        assert pv.OFF_SCREEN is True
    assert image.std() > 0
