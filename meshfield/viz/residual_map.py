"""``residual_map``: prediction | reference | |error| | PDE residual, side by side.

The panels are worked out once, independently of the renderer (:func:`residual_map_panels`):
which values each panel shows, its colour bar title and its colour range. PyVista draws them
off-screen (:class:`PyVistaFigure`), or matplotlib where VTK cannot render
(:class:`meshfield.viz._mpl.MplFigure`, 2D meshes only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["Panel", "PyVistaFigure", "residual_map", "residual_map_panels", "volume_grid"]

#: meshio cell types drawn for each topological dimension
_SURFACE_CELLS = ("triangle", "quad")
_VOLUME_CELLS = ("tetra", "hexahedron", "wedge", "pyramid")

_FIELD_CMAP = "viridis"
_ERROR_CMAP = "magma"
_RESIDUAL_CMAP = "inferno"

# panel size in pixels when the caller gives no window size
_PANEL_WIDTH = 420
_BAR_HEIGHT = 90


@dataclass
class Panel:
    """One picture of a residual map or animation.

    Attributes
    ----------
    kind
        ``"prediction"``, ``"reference"``, ``"error"`` or ``"residual"``.
    label
        Text drawn in the panel's corner.
    title
        Colour bar title: the quantity and its unit, e.g. ``"p [Pa]"``.
    values
        Node values ``[S, N]``, one row per step shown.
    clim
        Colour range ``(low, high)``, the same for every step.
    cmap
        Matplotlib colour map name.
    """

    kind: str
    label: str
    title: str
    values: np.ndarray
    clim: tuple[float, float]
    cmap: str


def mesh_dim(mesh: Any) -> int:
    """2 for a planar mesh (or a surface), 3 for a mesh with volume cells."""
    cells = getattr(mesh, "cells", None) or {}
    return 3 if any(t in cells for t in _VOLUME_CELLS) else 2


def _drawn_cells(mesh: Any) -> dict[str, torch.Tensor]:
    cells = getattr(mesh, "cells", None) or {}
    if mesh_dim(mesh) == 3:
        return {t: c for t, c in cells.items() if t in _VOLUME_CELLS}
    return {t: c for t, c in cells.items() if t in _SURFACE_CELLS or t.startswith("polygon")}


def volume_grid(mesh: Any) -> Any:
    """The cells of the mesh's own dimension as a ``pyvista.UnstructuredGrid``.

    Boundary lines (and faces of a volume mesh) are left out; every node keeps its index, so
    node arrays ``[N]`` can be attached as point data directly.

    Parameters
    ----------
    mesh
        A :class:`~meshfield.data.MeshGraph`.

    Returns
    -------
    pyvista.UnstructuredGrid
    """
    from meshfield.data import MeshGraph
    from meshfield.io import to_pyvista

    bare = MeshGraph(pos=mesh.pos, cells=_drawn_cells(mesh))
    z0 = getattr(mesh, "z0", None)
    if z0 is not None:
        bare.z0 = z0
    return to_pyvista(bare)


# ---------------------------------------------------------------------- channel selection
def select_field(names: Sequence[str], field: str | None) -> tuple[str, list[int]]:
    """The channels a field name stands for.

    ``field`` is a channel (``"p"``, ``"U_x"``) or a vector group (``"U"`` for ``U_x, U_y``),
    which is drawn as its magnitude.

    Returns
    -------
    (str, list of int)
        The name to show (``"p"`` or ``"U magnitude"``) and the channel indices.

    Raises
    ------
    ValueError
        If ``field`` names no channel or group.
    """
    from meshfield.io._raw import group_channels

    names = list(names)
    groups = group_channels(names)
    if field is None:
        field = groups[0][0]
    if field in names:
        return field, [names.index(field)]
    for group, idx in groups:
        if group == field:
            return f"{field} magnitude", idx
    choices = sorted({*names, *(g for g, idx in groups if len(idx) > 1)})
    msg = f"field={field!r} is not one of the result's fields: {', '.join(choices)}"
    raise ValueError(msg)


def _unit(units: dict[str, str], *names: str) -> str:
    for name in names:
        if units.get(name):
            return f" [{units[name]}]"
    return ""


def _reduce(values: torch.Tensor, idx: list[int]) -> np.ndarray:
    """``[S, N, C]`` -> ``[S, N]``: the channel, or the norm over several."""
    picked = values[..., idx].to(torch.float64)
    out = picked[..., 0] if len(idx) == 1 else picked.norm(dim=-1)
    return out.numpy()


#: percentile of an error or residual panel's values where its colour range ends (robust=True)
ROBUST_PERCENTILE = 99.0


def _range(
    *arrays: np.ndarray, zero: bool = False, robust: bool = False
) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return (0.0, 1.0)
    low = 0.0 if zero else float(min(a.min() for a in finite))
    high = float(max(a.max() for a in finite))
    if robust:
        # a few extreme nodes (a boundary layer, a corner) would leave the rest of the map dark
        high = float(np.percentile(np.concatenate(finite), ROBUST_PERCENTILE))
    if high - low <= 1e-12 * max(abs(low), abs(high), 1e-30):
        # a constant panel still needs a colour bar with some width
        pad = max(abs(high), 1.0) * 1e-3
        low, high = (low, high + pad) if zero else (low - pad, high + pad)
    return (low, high)


def _reference_tensor(result: Any, reference: Any) -> torch.Tensor | None:
    if reference is None:
        return result.reference
    ref = torch.as_tensor(reference.detach() if hasattr(reference, "detach") else reference)
    ref = ref.cpu().to(torch.float64)
    if ref.dim() == 2:
        ref = ref.expand(result.num_steps, *ref.shape)
    if tuple(ref.shape) != tuple(result.fields.shape):
        msg = (
            f"Expected 'reference' with shape {list(result.fields.shape)} or "
            f"{list(result.fields.shape[1:])} (got {list(ref.shape)})"
        )
        raise ValueError(msg)
    return ref


def residual_map_panels(
    result: Any,
    *,
    steps: Sequence[int] = (-1,),
    field: str | None = None,
    reference: Any = None,
    residual: bool = True,
    error: bool = True,
    component: int | str | None = None,
    robust: bool = True,
) -> list[Panel]:
    """The panels of a residual map: values, titles and colour ranges.

    Prediction and reference share one colour range, ``[min, max]`` over both; the error
    ``|prediction - reference|`` (for a vector field, the magnitude of the difference) and the
    residual (its absolute value, or the norm over components) each have their own, from 0 to
    their 99th percentile (``robust``; the top 1 % of the values saturate and the colour bar
    title says so) or to their maximum. Ranges are taken over all ``steps``, so an animation
    keeps its colours fixed. Panels without data (no reference, no residual) are left out.

    Parameters
    ----------
    result
        A :class:`~meshfield.FieldResult`.
    steps
        Time steps to cover; negative ones count from the end. default: ``(-1,)``
    field
        Channel (``"p"``) or vector group (``"U"``, drawn as its magnitude). default: ``None``
        (the first field)
    reference
        Reference values ``[T, N, C]`` or ``[N, C]`` instead of ``result.reference``.
        default: ``None``
    residual
        Add the residual panel(s) when the result has a residual. default: ``True``
    error
        Add the error panel when there is a reference. default: ``True``
    component
        Residual component to show, by index or name; ``None`` shows the norm over all
        components, ``"all"`` one panel per component. default: ``None``
    robust
        End the error and residual colour ranges at the 99th percentile instead of the
        maximum. default: ``True``

    Returns
    -------
    list of Panel
    """
    index = [result.step_index(s) for s in steps]
    if field == VORTICITY:
        return _vorticity_panels(result, index, reference, residual, error, component, robust)
    name, idx = select_field(result.field_names, field)
    base = name.removesuffix(" magnitude")
    channel_unit = _unit(result.units, base, *[result.field_names[i] for i in idx])
    prediction = _reduce(result.fields[index], idx)
    panels = []
    ref = _reference_tensor(result, reference)
    if ref is None:
        clim = _range(prediction)
        panels.append(
            Panel(
                "prediction", "prediction", f"{name}{channel_unit}", prediction, clim, _FIELD_CMAP
            )
        )
    else:
        ref_values = _reduce(ref[index], idx)
        clim = _range(prediction, ref_values)
        panels.append(
            Panel(
                "prediction", "prediction", f"{name}{channel_unit}", prediction, clim, _FIELD_CMAP
            )
        )
        panels.append(
            Panel(
                "reference",
                "reference",
                f"{name} reference{channel_unit}",
                ref_values,
                clim,
                _FIELD_CMAP,
            )
        )
        if error:
            diff = result.fields[index].to(torch.float64) - ref[index].to(torch.float64)
            err = _reduce(diff, idx)
            err = np.abs(err)
            panels.append(
                Panel(
                    "error",
                    "error",
                    f"{base} error{channel_unit}{_SATURATED if robust else ''}",
                    err,
                    _range(err, zero=True, robust=robust),
                    _ERROR_CMAP,
                )
            )
    if residual and result.residual is not None:
        panels.extend(_residual_panels(result, index, component, robust))
    return panels


#: colour bar title suffix of a robust range
_SATURATED = " (top 1% saturated)"

#: the derived field ``field="vorticity"``: the curl of a 2D velocity (``U_x``, ``U_y``)
VORTICITY = "vorticity"
_VORTICITY_CMAP = "RdBu_r"


def vorticity(mesh: Any, fields: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
    r"""The vorticity :math:`\omega = \partial_x U_y - \partial_y U_x` of 2D velocity frames.

    Derivatives by the least-squares mesh gradient of :class:`meshfield.physics.MeshOperators`.

    Parameters
    ----------
    mesh : MeshGraph
        ``pos [N, 2]`` and ``edge_index`` (or ``cells``).
    fields : torch.Tensor
        ``[S, N, C]`` frames.
    names : sequence of str
        The ``C`` channel names; ``U_x`` and ``U_y`` must be among them.

    Returns
    -------
    torch.Tensor
        ``[S, N]``, float64.
    """
    from meshfield.physics.mesh_ops import MeshOperators

    names = list(names)
    if "U_x" not in names or "U_y" not in names or mesh.pos.shape[1] != 2:
        msg = f"field='vorticity' needs a 2D mesh with U_x and U_y (got fields {names})"
        raise ValueError(msg)
    ops = MeshOperators(mesh.pos.double(), edge_index=getattr(mesh, "edge_index", None),
                        cells=getattr(mesh, "cells", None))
    velocity = fields[..., [names.index("U_x"), names.index("U_y")]].double()
    gradient = ops.grad(velocity)  # [S, N, 2 components, 2 directions]
    return gradient[..., 1, 0] - gradient[..., 0, 1]


def _vorticity_panels(result: Any, index: list[int], reference: Any, residual: bool,
                      error: bool, component: Any, robust: bool) -> list[Panel]:
    names = list(result.field_names)
    omega = vorticity(result.mesh, result.fields[index], names).numpy()
    ref = _reference_tensor(result, reference)
    ref_omega = vorticity(result.mesh, ref[index], names).numpy() if ref is not None else None
    both = [omega] if ref_omega is None else [omega, ref_omega]
    # symmetric about 0, to the 95th percentile of |omega|: the thin wall layers, where the
    # vorticity is largest, saturate and the shed vortices show
    bound = float(np.percentile(np.abs(np.concatenate([b.ravel() for b in both])), 95)) or 1.0
    clim = (-bound, bound)
    saturated = " (top 5% saturated)"
    title = f"vorticity [1/s]{saturated}"
    panels = [Panel("prediction", "prediction", title, omega, clim, _VORTICITY_CMAP)]
    if ref_omega is not None:
        panels.append(Panel("reference", "reference", f"vorticity reference{saturated}",
                            ref_omega, clim, _VORTICITY_CMAP))
        if error:
            err = np.abs(omega - ref_omega)
            panels.append(Panel("error", "error", f"vorticity error{_SATURATED}", err,
                                _range(err, zero=True, robust=True), _ERROR_CMAP))
    if residual and result.residual is not None:
        panels.extend(_residual_panels(result, index, component, robust))
    return panels


def _residual_panels(
    result: Any, index: list[int], component: int | str | None, robust: bool
) -> list[Panel]:
    names = list(result.residual_names)
    values = result.residual[index]
    if component is None:
        chosen = [(None, list(range(len(names))))]
    elif component == "all":
        chosen = [(n, [i]) for i, n in enumerate(names)]
    elif isinstance(component, str):
        if component not in names:
            msg = f"component={component!r} is not a residual component: {', '.join(names)}"
            raise ValueError(msg)
        chosen = [(component, [names.index(component)])]
    else:
        if not -len(names) <= int(component) < len(names):
            msg = f"component={component} is out of range for {len(names)} residual component(s)"
            raise ValueError(msg)
        i = int(component) % len(names)
        chosen = [(names[i], [i])]
    panels = []
    for name, idx in chosen:
        magnitude = np.abs(_reduce(values, idx))
        if name is None:
            label = "residual" if len(idx) > 1 else f"residual {names[0]}"
            title = "residual norm" if len(idx) > 1 else f"{names[0]} residual, abs."
            unit = (
                _unit(result.units, "residual")
                if len(idx) > 1
                else _unit(result.units, names[0], "residual")
            )
        else:
            label = f"residual {name}"
            title = f"{name} residual, abs."
            unit = _unit(result.units, name, "residual")
        panels.append(
            Panel(
                "residual",
                label,
                f"{title}{unit}{_SATURATED if robust else ''}",
                magnitude,
                _range(magnitude, zero=True, robust=robust),
                _RESIDUAL_CMAP,
            )
        )
    return panels


def step_text(result: Any, step: int) -> str:
    """``"step 12/50  t = 1.2 s"`` for a non-negative step index."""
    time = float(result.times[step])
    unit = _unit(result.units, "t", "time").strip(" []")
    return f"step {step}/{result.num_steps - 1}  t = {time:.4g}{' ' + unit if unit else ''}"


# ---------------------------------------------------------------------- layout
def _bounds2d(mesh: Any) -> tuple[float, float, float, float]:
    pos = mesh.pos.detach().cpu().to(torch.float64).numpy()
    x0, y0 = pos[:, :2].min(axis=0)
    x1, y1 = pos[:, :2].max(axis=0)
    return float(x0), float(x1), float(y0), float(y1)


def layout(
    mesh: Any, count: int, window_size: Sequence[int] | None
) -> tuple[int, int, tuple[int, int]]:
    """Rows, columns and window size in pixels for ``count`` panels of this mesh."""
    aspect = 1.0
    if mesh_dim(mesh) == 2:
        x0, x1, y0, y1 = _bounds2d(mesh)
        aspect = (x1 - x0) / max(y1 - y0, 1e-12)
    if count == 4:
        rows, cols = 2, 2
    elif aspect >= 1.6:
        rows, cols = count, 1
    else:
        rows, cols = 1, count
    if window_size is not None:
        width, height = (int(v) for v in window_size)
        return rows, cols, (width, height)
    plot_height = int(np.clip(_PANEL_WIDTH / max(aspect, 1e-6), 140, _PANEL_WIDTH))
    return rows, cols, (cols * _PANEL_WIDTH, rows * (plot_height + _BAR_HEIGHT))


# ---------------------------------------------------------------------- pyvista
class PyVistaFigure:
    """Panels drawn off-screen by PyVista, one subplot each; :meth:`update` changes the step.

    Parameters
    ----------
    panels
        What to draw (:func:`residual_map_panels`).
    mesh
        The mesh the values live on.
    show_edges
        Draw the mesh edges. default: ``False``
    window_size
        Picture size in pixels. default: ``None`` (from the number of panels and the mesh)
    """

    def __init__(
        self,
        panels: Sequence[Panel],
        mesh: Any,
        *,
        show_edges: bool = False,
        window_size: Sequence[int] | None = None,
    ) -> None:
        from meshfield.io._pyvista import import_pyvista
        from meshfield.viz._backend import setup_offscreen

        pv = import_pyvista()
        setup_offscreen(pv)
        self.panels = list(panels)
        self.dim = mesh_dim(mesh)
        rows, cols, size = layout(mesh, len(self.panels), window_size)
        self.plotter = pv.Plotter(
            off_screen=True, shape=(rows, cols), window_size=list(size), border=False
        )
        self.plotter.set_background("white")
        grid = volume_grid(mesh)
        # the colour bar's labels and title go below it: about 32 pixels of text
        bar_y = float(np.clip(32 / (size[1] / rows), 0.06, 0.18))
        self._datasets = []
        self._frames = []
        self._step_actors = []
        for k, panel in enumerate(self.panels):
            self.plotter.subplot(k // cols, k % cols)
            dataset, frames = self._geometry(grid, panel)
            dataset.point_data[panel.title] = frames[0]
            self.plotter.add_mesh(
                dataset,
                scalars=panel.title,
                clim=list(panel.clim),
                cmap=panel.cmap,
                show_edges=show_edges,
                edge_color="#404040",
                line_width=0.5,
                lighting=self.dim == 3,
                interpolate_before_map=True,
                scalar_bar_args={
                    "title": panel.title,
                    "vertical": False,
                    "position_x": 0.15,
                    "position_y": bar_y,
                    "width": 0.7,
                    "height": 0.08,
                    "n_labels": 4,
                    "fmt": "%.3g",
                    "color": "black",
                    "title_font_size": 14,
                    "label_font_size": 12,
                    "interactive": False,
                },
            )
            # labels and title below the bar: above it, VTK draws the title over the labels
            self.plotter.scalar_bars[panel.title].SetTextPositionToPrecedeScalarBar()
            if self.dim == 3:
                self.plotter.add_mesh(grid.outline(), color="black", line_width=1)
            self.plotter.add_text(panel.label, position="upper_left", font_size=9, color="black")
            self._step_actors.append(None)
            self._datasets.append(dataset)
            self._frames.append(frames)
            self._camera(mesh, rows, cols, size)
        self.plotter.render()

    def _geometry(self, grid: Any, panel: Panel) -> tuple[Any, list[np.ndarray]]:
        if self.dim == 2:
            return grid.copy(deep=False), list(panel.values)
        # 3D: a slice through the centre, normal to z; every step sliced once up front
        carrier = grid.copy(deep=False)
        for s, values in enumerate(panel.values):
            carrier.point_data[f"step{s}"] = values
        sliced = carrier.slice(normal="z", origin=grid.center)
        frames = [np.asarray(sliced.point_data[f"step{s}"]) for s in range(len(panel.values))]
        sliced.clear_data()
        return sliced, frames

    def _camera(self, mesh: Any, rows: int, cols: int, size: Sequence[int]) -> None:
        camera = self.plotter.camera
        if self.dim == 3:
            self.plotter.view_isometric()
            self.plotter.reset_camera()
            camera.zoom(0.9)
            return
        x0, x1, y0, y1 = _bounds2d(mesh)
        z = float(getattr(mesh, "z0", None) or 0.0)
        width_px = size[0] / cols
        height_px = size[1] / rows
        # fraction kept free at the bottom for the colour bar, its labels and title
        bar = float(np.clip(_BAR_HEIGHT / height_px, 0.22, 0.32))
        top = 0.08
        free = 1.0 - bar - top
        aspect_px = width_px / height_px
        scale = max((y1 - y0) / (2 * free), (x1 - x0) / (2 * aspect_px * 0.94), 1e-12)
        centre_y = 0.5 * (y0 + y1) - ((bar + free / 2) - 0.5) * 2 * scale
        centre_x = 0.5 * (x0 + x1)
        camera.parallel_projection = True
        camera.focal_point = (centre_x, centre_y, z)
        camera.position = (centre_x, centre_y, z + 10 * max(x1 - x0, y1 - y0, 1e-12))
        camera.up = (0.0, 1.0, 0.0)
        camera.parallel_scale = scale
        self.plotter.renderer.ResetCameraClippingRange()

    def update(self, frame: int, text: str | None = None) -> None:
        """Show the values of the ``frame``-th step of every panel, and ``text`` top right."""
        for k, (panel, dataset) in enumerate(zip(self.panels, self._datasets)):
            dataset.point_data[panel.title] = self._frames[k][frame]
            if text is not None and k == 0:
                self.plotter.subplot(*self._index(k))
                if self._step_actors[k] is not None:
                    self.plotter.remove_actor(self._step_actors[k], render=False)
                self._step_actors[k] = self.plotter.add_text(
                    text, position="upper_right", font_size=7, color="black"
                )

    def _index(self, k: int) -> tuple[int, int]:
        cols = self.plotter.shape[1]
        return k // cols, k % cols

    def image(self, path: str | os.PathLike[str] | None = None) -> np.ndarray:
        """The current picture ``[H, W, 3]`` (uint8), written to ``path`` if given."""
        self.plotter.render()
        return self.plotter.screenshot(None if path is None else os.fspath(path), return_img=True)

    @property
    def clims(self) -> list[tuple[float, float]]:
        """The scalar range of every panel's mapper, as VTK draws it."""
        out = []
        for k in range(len(self.panels)):
            renderer = self.plotter.renderers[k]
            mapper = next(a.mapper for a in renderer.actors.values() if _has_scalars(a))
            out.append(tuple(float(v) for v in mapper.scalar_range))
        return out

    def close(self) -> None:
        """Free the render window."""
        self.plotter.close()


def _has_scalars(actor: Any) -> bool:
    mapper = getattr(actor, "mapper", None)
    return mapper is not None and bool(getattr(mapper, "scalar_visibility", False))


# ---------------------------------------------------------------------- entry point
def make_figure(
    panels: Sequence[Panel],
    mesh: Any,
    *,
    backend: str,
    show_edges: bool,
    window_size: Sequence[int] | None,
) -> Any:
    """A :class:`PyVistaFigure` or :class:`~meshfield.viz._mpl.MplFigure` for ``backend``."""
    from meshfield.viz._backend import resolve_backend

    if resolve_backend(backend) == "pyvista":
        return PyVistaFigure(panels, mesh, show_edges=show_edges, window_size=window_size)
    from meshfield.viz._mpl import MplFigure

    return MplFigure(panels, mesh, show_edges=show_edges, window_size=window_size)


def residual_map(
    result: Any,
    *,
    step: int = -1,
    field: str | None = None,
    reference: Any = None,
    residual: bool = True,
    path: str | os.PathLike[str] | None = None,
    show_edges: bool = False,
    component: int | str | None = None,
    backend: str = "auto",
    window_size: Sequence[int] | None = None,
    return_panels: bool = False,
    robust: bool = True,
) -> Any:
    """Draw prediction | reference | |error| | PDE residual of one step, off-screen.

    Prediction and reference share a colour range; error and residual have their own, from 0
    to their 99th percentile (``robust=False``: to their maximum).
    Colour bars carry the field names and the units in ``result.units``. 2D meshes are seen
    flat from above (parallel projection); 3D meshes as a slice through the centre. Panels
    without data (no reference, no residual) are left out.

    Parameters
    ----------
    result
        A :class:`~meshfield.FieldResult`.
    step
        Time step; negative counts from the end. default: ``-1``
    field
        Channel (``"p"``) or vector group (``"U"``, drawn as its magnitude). default: ``None``
        (the first field)
    reference
        Reference values ``[T, N, C]`` or ``[N, C]`` instead of ``result.reference``.
        default: ``None``
    residual
        Show the PDE residual when the result has one. default: ``True``
    path
        Image file to write (``.png``, ``.jpg``, ...). default: ``None`` (return the image)
    show_edges
        Draw the mesh edges. default: ``False``
    component
        Residual component, by index or name; ``None`` draws the norm over all components,
        ``"all"`` one panel per component. default: ``None``
    backend
        ``"auto"`` (PyVista where VTK renders off-screen, else matplotlib with a warning),
        ``"pyvista"`` or ``"matplotlib"`` (2D meshes). default: ``"auto"``
    window_size
        Picture size ``(width, height)`` in pixels. default: ``None`` (about 420 pixels per
        panel)
    return_panels
        Also return the :class:`Panel` list (values, titles and colour ranges drawn).
        default: ``False``
    robust
        Error and residual colour ranges end at the 99th percentile of their values (the top
        1 % saturate), so a few extreme nodes do not leave the rest of the map dark.
        default: ``True``

    Returns
    -------
    pathlib.Path or numpy.ndarray
        The written file, or the picture ``[H, W, 3]`` (uint8) when ``path`` is ``None``;
        with ``return_panels``, a tuple ``(that, panels)``.

    Example
    -------
    >>> import meshfield
    >>> result = meshfield.FieldResult.load("wake.pvd")  # doctest: +SKIP
    >>> meshfield.viz.residual_map(result, field="U", path="residual.png")  # doctest: +SKIP
    PosixPath('residual.png')
    """
    index = result.step_index(step)
    panels = residual_map_panels(
        result,
        steps=(index,),
        field=field,
        reference=reference,
        residual=residual,
        component=component,
        robust=robust,
    )
    figure = make_figure(
        panels, result.mesh, backend=backend, show_edges=show_edges, window_size=window_size
    )
    try:
        figure.update(0, step_text(result, index))
        if path is None:
            out: Any = figure.image()
        else:
            out = Path(os.fspath(path)).expanduser()
            figure.image(out)
    finally:
        figure.close()
    return (out, panels) if return_panels else out
