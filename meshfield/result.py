"""``FieldResult``: what a model or solver hands back, fields on a mesh over time.

A :class:`FieldResult` holds the predicted fields in physical units, the mesh they live on, and
optionally the PDE residual, a reference solution (ground truth) and the metrics computed from
them. It writes itself as files ParaView opens (:meth:`FieldResult.save`), reads them back
(:meth:`FieldResult.load`), converts to PyVista (:meth:`FieldResult.to_pyvista`), evaluates at
arbitrary points (:meth:`FieldResult.at`) and draws its residual map (:meth:`FieldResult.plot`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from meshfield.errors import MeshValidationError

__all__ = ["ERROR_PREFIX", "REFERENCE_PREFIX", "RESIDUAL_PREFIX", "FieldResult"]

#: Channel name prefixes that mark residual, reference and error arrays in saved files.
RESIDUAL_PREFIX = "residual:"
REFERENCE_PREFIX = "reference:"
ERROR_PREFIX = "error:"

_SINGLE_STEP_SUFFIXES = (".vtu", ".vtk", ".xdmf")


def _as_tensor(value: Any, name: str, ndim: int) -> torch.Tensor:
    tensor = torch.as_tensor(value.detach() if hasattr(value, "detach") else value)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    if tensor.dim() != ndim:
        shape = "[T, N, C]" if ndim == 3 else "[T]"
        msg = f"Expected {name!r} with shape {shape} (got {list(tensor.shape)})"
        raise MeshValidationError(msg)
    return tensor.cpu()


def _check_names(names: Sequence[str], width: int, key: str, values: str) -> list[str]:
    names = [str(n) for n in names]
    if len(names) != width:
        msg = f"Expected {width} names in {key!r}, one per channel of {values!r} (got {len(names)})"
        raise MeshValidationError(msg)
    if len(set(names)) != len(names):
        msg = f"Names in {key!r} must be unique (got {names})"
        raise MeshValidationError(msg)
    return names


@dataclass(repr=False, eq=False)
class FieldResult:
    r"""Fields on a mesh over time, with optional PDE residual, reference and metrics.

    Parameters
    ----------
    fields
        Predicted node values in physical units.
    field_names
        One name per channel, e.g. ``["U_x", "U_y", "p"]``.
    times
        Time of every step. ``None`` numbers the steps ``0, 1, ...``.
    mesh
        The :class:`~meshfield.data.MeshGraph` the fields live on (its own ``fields``, if any,
        are ignored).
    residual
        Pointwise PDE residual in physical units. default: ``None``
    residual_names
        One name per residual channel, e.g. ``["continuity", "momentum_x", "momentum_y"]``.
        default: ``None`` (``R_0, R_1, ...`` when a residual is given)
    reference
        Reference solution with the shape of ``fields``. default: ``None``
    units
        Unit of a channel, a vector group or the time, e.g. ``{"U": "m/s", "p": "Pa",
        "t": "s"}``; used in colour bar titles. default: ``{}``
    cond
        Physical conditions, e.g. ``{"Re": 150.0}``. default: ``{}``
    query_fn
        ``query_fn(points, step) -> values``: the fields at arbitrary points ``[Q, d] -> [Q, C]``
        at time step ``step`` (a non-negative index), usually the point-query decoder of the
        model that made the result. default: ``None`` (:meth:`at` interpolates on the mesh)
    metrics
        Scalar metrics, e.g. ``{"rel_l2": 0.03, "R": 1.2e-3}``. default: ``{}``

    Shapes
    ------
    - fields: :math:`[T, N, C]`
    - times: :math:`[T]`
    - residual: :math:`[T, N, R]`
    - reference: :math:`[T, N, C]`

    Example
    -------
    >>> import torch, meshfield
    >>> mesh = meshfield.load_mesh("cylinder.msh")  # doctest: +SKIP
    >>> result = FieldResult(torch.rand(3, mesh.num_nodes, 1), ["p"], None, mesh)  # doctest: +SKIP
    >>> result.save("run.pvd")  # doctest: +SKIP
    PosixPath('run.pvd')
    """

    fields: Any
    field_names: Sequence[str]
    times: Any
    mesh: Any
    residual: Any = None
    residual_names: Sequence[str] | None = None
    reference: Any = None
    units: dict[str, str] = field(default_factory=dict)
    cond: dict[str, float] = field(default_factory=dict)
    query_fn: Callable[..., Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fields = _as_tensor(self.fields, "fields", 3)
        t, n, c = self.fields.shape
        self.field_names = _check_names(self.field_names, c, "field_names", "fields")
        if self.times is None:
            self.times = torch.arange(t, dtype=torch.float32)
        self.times = _as_tensor(self.times, "times", 1)
        if len(self.times) != t:
            msg = f"Expected 'times' with shape [{t}] (got {list(self.times.shape)})"
            raise MeshValidationError(msg)
        num_nodes = int(self.mesh.pos.shape[0])
        if n != num_nodes:
            msg = f"'fields' has {n} nodes but the mesh has {num_nodes}"
            raise MeshValidationError(msg)
        if self.residual is not None:
            self.residual = _as_tensor(self.residual, "residual", 3)
            if tuple(self.residual.shape[:2]) != (t, n):
                msg = (
                    f"Expected 'residual' with shape [{t}, {n}, R] (got "
                    f"{list(self.residual.shape)})"
                )
                raise MeshValidationError(msg)
            width = self.residual.shape[2]
            names = self.residual_names or [f"R_{i}" for i in range(width)]
            self.residual_names = _check_names(names, width, "residual_names", "residual")
        elif self.residual_names:
            msg = "'residual_names' given without 'residual'"
            raise MeshValidationError(msg)
        else:
            self.residual_names = []
        if self.reference is not None:
            self.reference = _as_tensor(self.reference, "reference", 3)
            if self.reference.shape != self.fields.shape:
                msg = (
                    f"Expected 'reference' with the shape of 'fields' {list(self.fields.shape)} "
                    f"(got {list(self.reference.shape)})"
                )
                raise MeshValidationError(msg)
        self.units = dict(self.units or {})
        self.cond = {str(k): float(v) for k, v in (self.cond or {}).items()}
        self.metrics = dict(self.metrics or {})

    # ------------------------------------------------------------------ sizes
    @property
    def num_steps(self) -> int:
        """Number of time steps ``T``."""
        return int(self.fields.shape[0])

    @property
    def num_nodes(self) -> int:
        """Number of mesh nodes ``N``."""
        return int(self.fields.shape[1])

    @property
    def error(self) -> torch.Tensor | None:
        """``|fields - reference|`` ``[T, N, C]``, or ``None`` without a reference."""
        if self.reference is None:
            return None
        return (self.fields - self.reference).abs()

    def step_index(self, step: int) -> int:
        """``step`` as a non-negative index (negative steps count from the end).

        Raises
        ------
        IndexError
            If ``step`` is out of range.
        """
        total = self.num_steps
        index = int(step)
        if not -total <= index < total:
            msg = f"step={step} is out of range for a result with {total} time step(s)"
            raise IndexError(msg)
        return index % total

    # ------------------------------------------------------------------ conversion
    def to_graph(self) -> Any:
        """The mesh graph with every array of the result as channels of ``fields``.

        Channels are the fields under their own names, then the reference
        (``"reference:<name>"``), the error ``|fields - reference|`` (``"error:<name>"``) and
        the residual (``"residual:<name>"``), so that any writer of :mod:`meshfield.io` stores
        them and :meth:`load` tells them apart again.

        Returns
        -------
        MeshGraph
            A shallow copy of ``mesh`` with ``fields``, ``field_names``, ``times`` and the
            conditions set.
        """
        graph = self.mesh.__copy__()
        for key in ("fields", "field_names", "times", "cell_fields", "cell_field_names"):
            if key in graph:
                del graph[key]
        blocks = [self.fields]
        names = list(self.field_names)
        if self.reference is not None:
            blocks += [self.reference, self.error]
            names += [REFERENCE_PREFIX + n for n in self.field_names]
            names += [ERROR_PREFIX + n for n in self.field_names]
        if self.residual is not None:
            blocks.append(self.residual)
            names += [RESIDUAL_PREFIX + n for n in self.residual_names]
        graph.fields = torch.cat([b.to(torch.float32) for b in blocks], dim=-1)
        graph.field_names = names
        graph.times = self.times.to(torch.float32)
        if self.cond:
            graph.cond = torch.tensor(list(self.cond.values()), dtype=torch.float32)
            graph.cond_names = list(self.cond)
        return graph

    def to_pyvista(self, *, step: int = -1) -> Any:
        """One time step as a ``pyvista.UnstructuredGrid`` with every array.

        Point arrays: the fields (vector channels ``U_x, U_y`` grouped as ``U``), and where
        present ``"reference:<name>"``, ``"error:<name>"`` and ``"residual:<name>"``.

        Parameters
        ----------
        step
            Time step; negative counts from the end. default: ``-1``

        Returns
        -------
        pyvista.UnstructuredGrid
        """
        from meshfield.io import to_pyvista

        return to_pyvista(self.to_graph(), step=self.step_index(step))

    def save(self, path: str | os.PathLike[str], *, step: int = -1) -> Path:
        """Write the result; the suffix picks the format.

        ``.pvd`` writes every step (one ``.vtu`` per step beside it); ``.vtu``, ``.vtk`` and
        ``.xdmf`` write one step. Fields, reference, error and residual are stored as point
        arrays (see :meth:`to_graph`) with the times and conditions. Units, metrics and the
        query function are not stored.

        Parameters
        ----------
        path
            Target file; its folder must exist.
        step
            Time step for the single-step formats. default: ``-1``

        Returns
        -------
        pathlib.Path
            The written file.
        """
        from meshfield.io import save

        path = Path(os.fspath(path)).expanduser()
        graph = self.to_graph()
        if path.suffix.lower() == ".pvd":
            return save(graph, path)
        return save(graph, path, step=self.step_index(step))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FieldResult:
        """Read a result written by :meth:`save` (``.pvd``, ``.vtu``, ``.vtk``, ``.xdmf``).

        Channels named ``"residual:<name>"`` become the residual, ``"reference:<name>"`` the
        reference; ``"error:<name>"`` channels are dropped (the error is recomputed). Any other
        file with point data reads as a result without residual or reference.

        Parameters
        ----------
        path
            The file to read.

        Returns
        -------
        FieldResult

        Raises
        ------
        MeshValidationError
            If the file holds no point data, or reference channels do not match the fields.
        """
        from meshfield.io import load_mesh

        graph = load_mesh(path)
        if "fields" not in graph or graph.fields is None:
            msg = f"{path} holds no point data to read as a result"
            raise MeshValidationError(msg)
        names = list(graph.field_names)
        values = graph.fields
        plain = [i for i, n in enumerate(names) if not n.startswith(_PREFIXES)]
        residual_idx = [i for i, n in enumerate(names) if n.startswith(RESIDUAL_PREFIX)]
        reference_idx = [i for i, n in enumerate(names) if n.startswith(REFERENCE_PREFIX)]
        field_names = [names[i] for i in plain]
        reference = None
        if reference_idx:
            ref_names = [names[i][len(REFERENCE_PREFIX) :] for i in reference_idx]
            if ref_names != field_names:
                msg = (
                    f"{path}: reference channels {ref_names} do not match the fields {field_names}"
                )
                raise MeshValidationError(msg)
            reference = values[:, :, reference_idx]
        residual = values[:, :, residual_idx] if residual_idx else None
        residual_names = [names[i][len(RESIDUAL_PREFIX) :] for i in residual_idx]
        cond = {}
        if "cond" in graph and graph.cond is not None:
            cond = {str(k): float(v) for k, v in zip(graph.cond_names, graph.cond.tolist())}
        mesh = graph.__copy__()
        for key in ("fields", "field_names", "times", "cond", "cond_names"):
            if key in mesh:
                del mesh[key]
        times = graph.times if "times" in graph and graph.times is not None else None
        return cls(
            fields=values[:, :, plain],
            field_names=field_names,
            times=times,
            mesh=mesh,
            residual=residual,
            residual_names=residual_names or None,
            reference=reference,
            cond=cond,
        )

    # ------------------------------------------------------------------ evaluation
    def at(self, query_points: Any, *, step: int = -1) -> torch.Tensor:
        """The fields at arbitrary points.

        With a ``query_fn`` (a model behind the result) the model is evaluated at the points;
        otherwise the node values are interpolated linearly inside the mesh cells, and points
        outside the mesh get NaN.

        Parameters
        ----------
        query_points
            Coordinates ``[Q, d]`` with the mesh's dimension ``d``.
        step
            Time step; negative counts from the end. default: ``-1``

        Returns
        -------
        torch.Tensor
            ``[Q, C]`` values, channels in the order of ``field_names``.

        Raises
        ------
        MeshValidationError
            If ``query_points`` is not ``[Q, d]``, or the mesh has no cells to interpolate in.
        """
        index = self.step_index(step)
        points = torch.as_tensor(
            query_points.detach() if hasattr(query_points, "detach") else query_points
        )
        dim = int(self.mesh.pos.shape[1])
        if points.dim() != 2 or points.shape[1] != dim:
            msg = f"Expected 'query_points' with shape [Q, {dim}] (got {list(points.shape)})"
            raise MeshValidationError(msg)
        if self.query_fn is not None:
            values = torch.as_tensor(self.query_fn(query_points, index))
            expected = (points.shape[0], len(self.field_names))
            if tuple(values.shape) != expected:
                msg = (
                    f"query_fn returned shape {list(values.shape)}; expected {list(expected)} "
                    "(one row per query point, one column per field)"
                )
                raise MeshValidationError(msg)
            return values
        return self._interpolate(points.to(torch.float64).cpu().numpy(), index)

    def _interpolate(self, points: np.ndarray, index: int) -> torch.Tensor:
        from meshfield.io._pyvista import import_pyvista
        from meshfield.viz.residual_map import volume_grid

        pv = import_pyvista()
        grid = volume_grid(self.mesh)
        if grid.n_cells == 0:
            msg = (
                "Cannot interpolate: the mesh has no 2D or 3D cells; give the result a query_fn "
                "(a model) to evaluate it at arbitrary points"
            )
            raise MeshValidationError(msg)
        grid.point_data["values"] = self.fields[index].to(torch.float64).numpy()
        if points.shape[1] == 2:
            z0 = float(getattr(self.mesh, "z0", None) or 0.0)
            points = np.concatenate([points, np.full((len(points), 1), z0)], axis=1)
        probe = pv.PolyData(np.ascontiguousarray(points, dtype=np.float64))
        sampled = probe.sample(grid)
        values = np.asarray(sampled.point_data["values"], dtype=np.float64).reshape(len(points), -1)
        valid = np.asarray(sampled.point_data["vtkValidPointMask"]).astype(bool)
        values[~valid] = np.nan
        return torch.from_numpy(values).to(self.fields.dtype)

    # ------------------------------------------------------------------ pictures
    def plot(
        self,
        field: str | None = None,
        *,
        step: int = -1,
        path: str | os.PathLike[str] | None = None,
        residual: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Draw prediction | reference | error | residual; see :func:`meshfield.viz.residual_map`.

        Parameters
        ----------
        field
            Channel (``"p"``) or vector group (``"U"``, its magnitude). default: ``None`` (the
            first)
        step
            Time step. default: ``-1``
        path
            Image file to write. default: ``None`` (return the image array)
        residual
            Show the residual panel when the result has a residual. default: ``True``
        **kwargs
            Passed on to :func:`meshfield.viz.residual_map`.

        Returns
        -------
        pathlib.Path or numpy.ndarray
        """
        from meshfield.viz import residual_map

        return residual_map(self, field=field, step=step, path=path, residual=residual, **kwargs)

    def __repr__(self) -> str:
        parts = [
            f"steps={self.num_steps}",
            f"nodes={self.num_nodes}",
            f"fields=[{', '.join(self.field_names)}]",
        ]
        if self.residual is not None:
            parts.append(f"residual=[{', '.join(self.residual_names)}]")
        if self.reference is not None:
            parts.append("reference=True")
        if self.cond:
            parts.append("cond={" + ", ".join(f"{k}={v:g}" for k, v in self.cond.items()) + "}")
        if self.metrics:
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in self.metrics.items())
            parts.append("metrics={" + shown + "}")
        if self.query_fn is not None:
            parts.append("query_fn=True")
        return f"{type(self).__name__}({', '.join(parts)})"


_PREFIXES = (RESIDUAL_PREFIX, REFERENCE_PREFIX, ERROR_PREFIX)


def _fmt(value: Any) -> str:
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return f"{float(value):.4g}"
    return str(value)
