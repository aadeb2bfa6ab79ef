r"""Transient heat conduction on a plate with holes: a built-in P1 finite-element solver.

Solves

.. math::
    \partial_t T = \alpha \Delta T \quad \text{in } \Omega, \qquad
    T = T_g \text{ on Dirichlet groups } g, \qquad
    \partial_n T = 0 \text{ elsewhere}, \qquad T(\cdot, 0) = T_0,

on a rectangle ``width x height`` with circular holes, meshed with gmsh (unstructured
triangles, refined around the holes). Boundary groups: ``left``, ``holes``, ``right``,
``bottom``, ``top``. A group is held at a fixed temperature when the spec gives ``T_<group>``
(``T_left``, ``T_right``, ``T_top``, ``T_bottom``, and ``T_hole`` for the holes) as a condition
or as a PDE constant; the other groups are insulated. Nodes on two groups take the value of
the one listed first above, and its condition.

Discretization: linear (P1) triangles, consistent mass :math:`M` and stiffness :math:`K`
assembled in one vectorized pass, the theta scheme

.. math::
    (M + \theta \Delta t \alpha K) T^{n+1} = (M - (1 - \theta) \Delta t \alpha K) T^n

(``theta = 1``: implicit Euler, the default, free of oscillations at the jump of the boundary
values at ``t = 0``; ``theta = 0.5``: Crank-Nicolson), Dirichlet values by elimination and one
sparse LU factorization per run (:func:`scipy.sparse.linalg.splu`). The snapshot at ``t = 0`` is
the initial state with the boundary values imposed. A steady spec (``time: {steady: true}``)
solves :math:`K T = 0` with the Dirichlet values.

Spec keys read here:

* ``mesh``: ``{generator: plate_with_holes, params: {width: 2.0, height: 1.0, holes: [[x, y,
  r], ...], size: 0.05, hole_size: size / 2}}`` or ``{file: ...}`` (a triangle or quad mesh
  with the boundary groups above).
* ``conditions`` / ``pde.constants``: ``alpha`` (diffusivity), ``T_<group>``, ``T0`` (initial
  temperature, default 0).
* ``solver.settings``: ``dt`` (time step, default ``interval / 10``, shortened to divide the
  interval), ``theta`` (default 1.0).
* ``fields``: ``{T: units}``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.errors import SpecError

__all__ = [
    "BOUNDARY_GROUPS",
    "assemble_p1",
    "check_spec",
    "plate_mesh",
    "simulate",
    "solve_heat",
]

#: Boundary groups in priority order, and the temperature that holds each fixed.
BOUNDARY_GROUPS: dict[str, str] = {
    "left": "T_left",
    "holes": "T_hole",
    "right": "T_right",
    "bottom": "T_bottom",
    "top": "T_top",
}
_GENERATORS = ("plate_with_holes",)
_CONDITIONS = ("alpha", "T0", *BOUNDARY_GROUPS.values())
_SETTINGS = ("dt", "theta")
_DEFAULT_HOLES = ((0.6, 0.55, 0.2), (1.35, 0.4, 0.15))


def _prefix(spec: Any) -> str:
    return f"{spec.source}: " if spec.source else ""


def _holes(params: Mapping[str, Any], width: float, height: float, where: str) -> list[tuple]:
    holes = params.get("holes", _DEFAULT_HOLES)
    out = []
    for i, hole in enumerate(holes):
        if not isinstance(hole, (list, tuple)) or len(hole) != 3:
            msg = f"{where}mesh.params.holes[{i}]: expected [x, y, radius] (got {hole!r})"
            raise SpecError(msg)
        x, y, r = (float(v) for v in hole)
        if r <= 0 or x - r <= 0 or x + r >= width or y - r <= 0 or y + r >= height:
            msg = (
                f"{where}mesh.params.holes[{i}]: expected a hole of positive radius inside the "
                f"{width:g} x {height:g} plate (got {hole!r})"
            )
            raise SpecError(msg)
        out.append((x, y, r))
    for i in range(len(out)):
        for j in range(i):
            (x1, y1, r1), (x2, y2, r2) = out[i], out[j]
            if math.hypot(x1 - x2, y1 - y2) <= r1 + r2:
                msg = f"{where}mesh.params.holes: holes {j} and {i} overlap"
                raise SpecError(msg)
    return out


def _mesh_params(spec: Any) -> dict[str, Any]:
    where = _prefix(spec)
    params = dict(spec.mesh.params)
    unknown = sorted(set(params) - {"width", "height", "holes", "size", "hole_size"})
    if unknown:
        msg = (
            f"{where}mesh.params.{unknown[0]}: unknown parameter of plate_with_holes "
            "(expected width, height, holes, size, hole_size)"
        )
        raise SpecError(msg)
    out = {}
    for key, default in (("width", 2.0), ("height", 1.0), ("size", 0.05)):
        value = params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            msg = f"{where}mesh.params.{key}: expected a positive number (got {value!r})"
            raise SpecError(msg)
        out[key] = float(value)
    hole_size = params.get("hole_size", out["size"] / 2)
    if isinstance(hole_size, bool) or not isinstance(hole_size, (int, float)) or hole_size <= 0:
        msg = f"{where}mesh.params.hole_size: expected a positive number (got {hole_size!r})"
        raise SpecError(msg)
    out["hole_size"] = float(hole_size)
    out["holes"] = _holes(params, out["width"], out["height"], where)
    return out


def _value(spec: Any, conditions: Mapping[str, float], name: str) -> float | None:
    if name in conditions:
        return float(conditions[name])
    if name in spec.pde.constants:
        return float(spec.pde.constants[name])
    return None


def check_spec(spec: Any) -> None:
    """Raise :class:`~meshfield.errors.SpecError` for a spec this case cannot run."""
    where = _prefix(spec)
    if spec.mesh.file is None:
        if spec.mesh.generator not in _GENERATORS:
            msg = (
                f"{where}mesh.generator: heat_plate makes {list(_GENERATORS)} "
                f"(got {spec.mesh.generator!r})"
            )
            raise SpecError(msg)
        _mesh_params(spec)
    unknown = [n for n in spec.condition_names if n not in _CONDITIONS]
    if unknown:
        msg = f"{where}conditions.{unknown[0]}: heat_plate takes {list(_CONDITIONS)}"
        raise SpecError(msg)
    if "alpha" not in spec.condition_names and "alpha" not in spec.pde.constants:
        msg = f"{where}conditions: heat_plate needs alpha (a condition or a pde constant)"
        raise SpecError(msg)
    for cond in spec.conditions:
        if cond.name == "alpha" and min(min(v) for v in cond.values.values()) <= 0:
            msg = f"{where}conditions.alpha: expected positive diffusivities"
            raise SpecError(msg)
    if list(spec.fields) != ["T"]:
        msg = f"{where}fields: heat_plate gives the temperature T (got {list(spec.fields)})"
        raise SpecError(msg)
    settings = spec.solver.settings
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        msg = f"{where}solver.settings.{unknown[0]}: unknown setting (expected {list(_SETTINGS)})"
        raise SpecError(msg)
    theta = settings.get("theta", 1.0)
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not 0.5 <= theta <= 1:
        msg = f"{where}solver.settings.theta: expected a number in [0.5, 1] (got {theta!r})"
        raise SpecError(msg)
    dt = settings.get("dt")
    if dt is not None and (isinstance(dt, bool) or not isinstance(dt, (int, float)) or dt <= 0):
        msg = f"{where}solver.settings.dt: expected a positive number (got {dt!r})"
        raise SpecError(msg)


@functools.lru_cache(maxsize=4)
def _plate_mesh_cached(key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    params = json.loads(key)
    from meshfield.cases._gmsh import gmsh_session, mesh_arrays

    width, height = params["width"], params["height"]
    with gmsh_session("heat_plate") as gmsh:
        occ = gmsh.model.occ
        plate = occ.addRectangle(0.0, 0.0, 0.0, width, height)
        disks = [occ.addDisk(x, y, 0.0, r, r) for x, y, r in params["holes"]]
        if disks:
            surface, _ = occ.cut([(2, plate)], [(2, d) for d in disks])
        else:
            surface = [(2, plate)]
        occ.synchronize()
        found: dict[str, list[int]] = {name: [] for name in BOUNDARY_GROUPS}
        eps = 1e-9 * max(width, height)
        for _, tag in gmsh.model.getBoundary(surface, oriented=False):
            x, y, _ = occ.getCenterOfMass(1, tag)
            if abs(x) < eps:
                found["left"].append(tag)
            elif abs(x - width) < eps:
                found["right"].append(tag)
            elif abs(y) < eps:
                found["bottom"].append(tag)
            elif abs(y - height) < eps:
                found["top"].append(tag)
            else:
                found["holes"].append(abs(tag))
        groups = [name for name, tags in found.items() if tags]
        for name in groups:
            gmsh.model.setPhysicalName(1, gmsh.model.addPhysicalGroup(1, found[name]), name)
        gmsh.model.addPhysicalGroup(2, [t for _, t in surface])

        gmsh.option.setNumber("Mesh.MeshSizeMax", params["size"])
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        if found["holes"] and params["hole_size"] < params["size"]:
            distance = gmsh.model.mesh.field.add("Distance")
            gmsh.model.mesh.field.setNumbers(distance, "CurvesList", found["holes"])
            gmsh.model.mesh.field.setNumber(distance, "Sampling", 100)
            threshold = gmsh.model.mesh.field.add("Threshold")
            gmsh.model.mesh.field.setNumber(threshold, "InField", distance)
            gmsh.model.mesh.field.setNumber(threshold, "SizeMin", params["hole_size"])
            gmsh.model.mesh.field.setNumber(threshold, "SizeMax", params["size"])
            gmsh.model.mesh.field.setNumber(threshold, "DistMin", 0.0)
            gmsh.model.mesh.field.setNumber(threshold, "DistMax", 8 * params["size"])
            gmsh.model.mesh.field.setAsBackgroundMesh(threshold)
        gmsh.model.mesh.generate(2)
        points, cells, boundary, names = mesh_arrays(groups, dim=2)
    return points[:, :2], cells["triangle"], boundary, tuple(names)


def plate_mesh(
    *,
    width: float = 2.0,
    height: float = 1.0,
    holes: Any = _DEFAULT_HOLES,
    size: float = 0.05,
    hole_size: float | None = None,
) -> Any:
    """The triangle mesh of a rectangular plate with circular holes.

    Parameters
    ----------
    width, height : float, default: 2.0, 1.0
        Plate extent; the plate spans ``[0, width] x [0, height]``.
    holes : list of (x, y, r), default: two holes
        Centres and radii; an empty list gives a plain rectangle.
    size : float, default: 0.05
        Element size away from the holes.
    hole_size : float, optional
        Element size on the holes. default: ``size / 2``.

    Returns
    -------
    MeshGraph
        Triangles, boundary groups ``left``, ``holes`` (when there are holes), ``right``,
        ``bottom``, ``top`` (in this priority at corners).
    """
    from meshfield.data.build import mesh_graph

    key = json.dumps(
        {
            "width": float(width),
            "height": float(height),
            "holes": [[float(v) for v in h] for h in holes],
            "size": float(size),
            "hole_size": float(size / 2 if hole_size is None else hole_size),
        },
        sort_keys=True,
    )
    points, triangles, boundary, names = _plate_mesh_cached(key)
    return mesh_graph(
        points,
        {"triangle": triangles},
        boundary=boundary,
        boundary_names=list(names),
        source="heat_plate mesh",
    )


def assemble_p1(pos: np.ndarray, triangles: np.ndarray) -> tuple[Any, Any]:
    r"""Stiffness and consistent mass matrices of linear triangles.

    .. math::
        K_{ij} = \int_\Omega \nabla \phi_i \cdot \nabla \phi_j, \qquad
        M_{ij} = \int_\Omega \phi_i \phi_j

    Parameters
    ----------
    pos : numpy.ndarray
        Node coordinates, ``[N, 2]``.
    triangles : numpy.ndarray
        Node indices, ``[n_cells, 3]``.

    Returns
    -------
    K, M : scipy.sparse.csr_matrix
        ``[N, N]`` each, symmetric.
    """
    from scipy.sparse import coo_matrix

    pos = np.asarray(pos, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64)
    corners = pos[triangles]  # [E, 3, 2]
    e1 = corners[:, 1] - corners[:, 0]
    e2 = corners[:, 2] - corners[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    area = 0.5 * np.abs(det)
    # gradients of the barycentric coordinates: rows of the inverse Jacobian
    g1 = np.stack([e2[:, 1], -e2[:, 0]], axis=1) / det[:, None]
    g2 = np.stack([-e1[:, 1], e1[:, 0]], axis=1) / det[:, None]
    grads = np.stack([-g1 - g2, g1, g2], axis=1)  # [E, 3, 2]
    local_k = area[:, None, None] * np.einsum("eid,ejd->eij", grads, grads)
    local_m = (area / 12.0)[:, None, None] * (np.ones((3, 3)) + np.eye(3))
    rows = np.repeat(triangles, 3, axis=1).reshape(-1)
    cols = np.tile(triangles, (1, 3)).reshape(-1)
    n = len(pos)
    stiffness = coo_matrix((local_k.reshape(-1), (rows, cols)), shape=(n, n)).tocsr()
    mass = coo_matrix((local_m.reshape(-1), (rows, cols)), shape=(n, n)).tocsr()
    return stiffness, mass


def _stepper(
    stiffness: Any,
    mass: Any,
    free: np.ndarray,
    fixed: np.ndarray,
    values: np.ndarray,
    alpha: float,
    dt: float,
    theta: float,
) -> Callable[[np.ndarray, int], np.ndarray]:
    from scipy.sparse.linalg import splu

    lhs = (mass + (theta * dt * alpha) * stiffness).tocsr()
    rhs = (mass - ((1.0 - theta) * dt * alpha) * stiffness).tocsr()
    lu = splu(lhs[free][:, free].tocsc())
    lift = lhs[free][:, fixed] @ values
    rhs_free = rhs[free]

    def advance(state: np.ndarray, steps: int) -> np.ndarray:
        state = state.copy()
        for _ in range(steps):
            state[free] = lu.solve(rhs_free @ state - lift)
        return state

    return advance


def solve_heat(
    pos: np.ndarray,
    triangles: np.ndarray,
    dirichlet: Mapping[int, float] | np.ndarray,
    *,
    alpha: float,
    times: np.ndarray,
    dt: float,
    theta: float = 1.0,
    initial: float = 0.0,
    steady: bool = False,
) -> np.ndarray:
    r"""Solve :math:`\partial_t T = \alpha \Delta T` with P1 elements and the theta scheme.

    Parameters
    ----------
    pos : numpy.ndarray
        Node coordinates, ``[N, 2]``.
    triangles : numpy.ndarray
        ``[n_cells, 3]``.
    dirichlet : numpy.ndarray
        float ``[N]`` with the fixed temperature at Dirichlet nodes and NaN elsewhere
        (insulated).
    alpha : float
        Diffusivity.
    times : numpy.ndarray
        Snapshot times ``[T]``, ascending, ``>= 0``; equally spaced after the first.
    dt : float
        Largest time step; shortened so that it divides the snapshot interval.
    theta : float, default: 1.0
        1 implicit Euler, 0.5 Crank-Nicolson.
    initial : float, default: 0.0
        Initial temperature away from the Dirichlet nodes.
    steady : bool, default: False
        Solve the steady problem :math:`K T = 0` instead (one snapshot).

    Returns
    -------
    numpy.ndarray
        float64 ``[T, N]`` (``[1, N]`` when steady).
    """
    from scipy.sparse.linalg import spsolve

    values_all = np.asarray(dirichlet, dtype=np.float64)
    fixed = np.flatnonzero(~np.isnan(values_all))
    free = np.flatnonzero(np.isnan(values_all))
    values = values_all[fixed]
    stiffness, mass = assemble_p1(pos, triangles)
    state = np.full(len(pos), float(initial))
    state[fixed] = values
    if steady:
        if len(fixed) == 0:
            msg = "heat_plate: a steady problem needs at least one boundary at fixed temperature"
            raise SpecError(msg)
        k = stiffness.tocsr()
        state[free] = spsolve(k[free][:, free].tocsc(), -(k[free][:, fixed] @ values))
        return state[None]

    times = np.asarray(times, dtype=np.float64)
    out = np.empty((len(times), len(pos)))
    steppers: dict[float, Callable[[np.ndarray, int], np.ndarray]] = {}

    def step(span: float, state: np.ndarray) -> np.ndarray:
        if span <= 0:
            return state
        count = max(1, math.ceil(span / dt - 1e-9))
        key = round(span / count, 15)
        if key not in steppers:
            steppers[key] = _stepper(stiffness, mass, free, fixed, values, alpha, key, theta)
        return steppers[key](state, count)

    previous = 0.0
    for i, t in enumerate(times):
        state = step(float(t) - previous, state)
        out[i] = state
        previous = float(t)
    return out


def _mesh(spec: Any) -> Any:
    if spec.mesh.file is not None:
        from meshfield.io import load_mesh

        return load_mesh(spec.mesh.file)
    return plate_mesh(**_mesh_params(spec))


def _triangles(graph: Any) -> np.ndarray:
    parts = []
    for cell_type, cells in graph.cells.items():
        cells = cells.numpy()
        if cell_type == "triangle":
            parts.append(cells)
        elif cell_type == "quad":
            parts += [cells[:, [0, 1, 2]], cells[:, [0, 2, 3]]]
    if not parts:
        msg = f"heat_plate: expected a mesh of triangles or quads (got {list(graph.cells)})"
        raise SpecError(msg)
    return np.concatenate(parts)


def simulate(spec: Any, conditions: dict[str, float], workdir: Path) -> Any:
    """One heat-plate run.

    Parameters
    ----------
    spec : DataSpec
        A ``heat_plate`` spec.
    conditions : dict
        Values of the spec's conditions, e.g. ``{"alpha": 0.05, "T_left": 1.0, "T_hole": 0.0}``.
    workdir : Path
        Scratch folder (unused: the solver works in memory).

    Returns
    -------
    MeshGraph
        With ``fields`` ``[T, N, 1]`` (``T``), ``times``, ``cond`` in spec order and the
        boundary groups of the plate.

    Shapes
    ------
    - **fields**: ``[T, N, 1]``; **times**: ``[T]``; **cond**: ``[K]``
    """
    import torch

    check_spec(spec)
    graph = _mesh(spec)
    pos = graph.pos.to(torch.float64).numpy()
    boundary = graph.boundary.numpy()
    alpha = _value(spec, conditions, "alpha")
    dirichlet = np.full(len(pos), np.nan)
    for group, name in enumerate(graph.boundary_names):
        value = _value(spec, conditions, BOUNDARY_GROUPS.get(name, ""))
        if group > 0 and value is not None:
            dirichlet[boundary == group] = value
    if np.isnan(dirichlet).all() and spec.time.steady:
        msg = f"{_prefix(spec)}conditions: a steady heat_plate needs a fixed temperature T_<group>"
        raise SpecError(msg)

    times = spec.time.snapshot_times()
    settings = spec.solver.settings
    interval = spec.time.interval or 1.0
    temperature = solve_heat(
        pos,
        _triangles(graph),
        dirichlet,
        alpha=float(alpha),
        times=times,
        dt=float(settings.get("dt", interval / 10)),
        theta=float(settings.get("theta", 1.0)),
        initial=_value(spec, conditions, "T0") or 0.0,
        steady=spec.time.steady,
    )
    graph.fields = torch.from_numpy(temperature[:, :, None].astype(np.float32))
    graph.field_names = ["T"]
    graph.times = torch.from_numpy(times.astype(np.float32))
    graph.cond = torch.tensor([conditions[n] for n in spec.condition_names], dtype=torch.float32)
    graph.cond_names = list(spec.condition_names)
    return graph
