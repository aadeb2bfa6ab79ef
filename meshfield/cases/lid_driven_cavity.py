"""Lid-driven cavity on an unstructured triangle mesh, solved by OpenFOAM's ``icoFoam``.

Set-up
------
* **Domain**: the unit square ``[0, 1] x [0, 1]`` (``length`` in the mesh params), meshed by
  gmsh with triangles of size ``size`` (finer, ``size_wall``, along the walls) and extruded one
  layer in z (``thickness``) into prisms; ``gmshToFoam`` converts it and ``foamDictionary``
  makes ``movingWall`` and ``fixedWalls`` walls and ``frontAndBack`` ``empty``.
* **Flow**: incompressible, laminar, from rest; the lid (``movingWall``, ``y = length``) moves
  with ``U = (lid_velocity 0 0)``, the other walls are no-slip, ``p`` has zero gradient on
  every wall (reference value 0 in cell 0). ``nu = lid_velocity * length / Re``.
* **Solver**: ``icoFoam`` (PISO, Euler in time, fixed ``delta_t``; ``linearUpwind``
  convection on the unstructured mesh). Snapshots every ``interval`` from ``spin_up`` to
  ``end`` show the start-up towards the steady state (about 10 time units at ``Re = 100``).
* **Result**: the back face as a triangle :class:`~meshfield.data.MeshGraph`, fields
  ``U_x, U_y, p``, ``cond = [Re]``, boundary groups ``fixedWalls`` (winning at the two top
  corners, where the lid meets the walls) and ``movingWall``.

Reference: the steady primary vortex at ``Re = 100`` is centred at (0.6172, 0.7344)
(Ghia, Ghia and Shin, J. Comput. Phys. 48, 1982).

Run time and accuracy
---------------------
Measured on this machine (2 CPU cores shared with other work, OpenFOAM v1912 from Debian, one
serial run): the default mesh (2 384 prisms, 1 293 nodes in 2D) runs 10 time units at
``Re = 100`` (2 000 steps of 0.005, Courant number up to 0.63) in 5.5 s; the primary vortex
settles by ``t = 6`` at (0.613, 0.731), within 0.005 of Ghia et al. A run of the spec
(``data_specs/lid_driven_cavity.yaml``, 20 time units, 101 snapshots) takes 12 s (11 s in
icoFoam); at ``Re = 1000`` the vortex is then at (0.550, 0.558) (Ghia et al.: (0.5313,
0.5625) at steady state).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.cases import openfoam as foam

__all__ = [
    "DEFAULT_MESH",
    "DEFAULT_SOLVER",
    "check_requirements",
    "check_spec",
    "make_mesh",
    "setup_case",
    "simulate",
    "vortex_centre",
]

#: Mesh parameters (``spec.mesh.params``) and their defaults.
DEFAULT_MESH: dict[str, float] = {
    "length": 1.0,
    "size": 0.04,
    "size_wall": 0.02,
    "thickness": 0.1,
}

#: Solver settings (``spec.solver.settings``) and their defaults.
DEFAULT_SOLVER: dict[str, Any] = {
    "lid_velocity": 1.0,
    "delta_t": 0.005,
    "n_correctors": 2,
    "n_non_orthogonal_correctors": 1,
    "timeout": None,
}

_TOOLS = ("gmshToFoam", "foamDictionary", "icoFoam")
_PATCHES = ("fixedWalls", "movingWall")
_CASE = "lid_driven_cavity"


def check_requirements() -> None:
    """Check that gmsh and the OpenFOAM tools of this case are installed.

    Raises
    ------
    MissingDependencyError
        gmsh is missing (``pip install gmsh``) or OpenFOAM is
        (:class:`~meshfield.cases.openfoam.OpenFOAMNotFoundError`, with the install command).
    """
    from meshfield.errors import MissingDependencyError

    try:
        import gmsh  # noqa: F401
    except ImportError as exc:
        msg = f"The {_CASE} case meshes with gmsh: pip install gmsh"
        raise MissingDependencyError(msg) from exc
    foam.check_openfoam(_TOOLS, case=_CASE)


def check_spec(spec: Any) -> None:
    """Check a spec before any run: mesh generator and params, conditions, time window.

    Raises
    ------
    SpecError
        For settings this case cannot run.
    """
    from meshfield.errors import SpecError

    if spec.mesh.file is not None or spec.mesh.generator not in (None, "unit_square"):
        msg = f"mesh: the {_CASE} case builds its mesh: use {{generator: unit_square}}"
        raise SpecError(msg)
    foam.merge_settings(spec.mesh.params, DEFAULT_MESH, "mesh.params", _CASE)
    foam.merge_settings(spec.solver.settings, DEFAULT_SOLVER, "solver.settings", _CASE)
    if spec.condition_names != ["Re"]:
        msg = f"conditions: the {_CASE} case takes one condition, Re (got {spec.condition_names})"
        raise SpecError(msg)
    if spec.time.steady or spec.time.interval is None or spec.time.end is None:
        msg = f"time: the {_CASE} case is transient: give spin_up, end and interval"
        raise SpecError(msg)
    interval = spec.time.interval
    if not _is_multiple(spec.time.spin_up, interval):
        msg = (
            f"time.spin_up: expected a multiple of time.interval = {interval:g} "
            f"(got {spec.time.spin_up:g}); snapshots are written every interval from t = 0"
        )
        raise SpecError(msg)
    delta_t = float({**DEFAULT_SOLVER, **spec.solver.settings}["delta_t"])
    if not _is_multiple(interval, delta_t):
        msg = (
            f"time.interval: expected a multiple of solver.settings.delta_t = {delta_t:g} "
            f"(got {interval:g})"
        )
        raise SpecError(msg)


def _is_multiple(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) <= 1e-6 * max(1.0, abs(ratio))


def make_mesh(path: str | Path, **params: float) -> Path:
    """Write the one-layer triangle (prism) mesh of the cavity as MSH 2.2 with named patches.

    Parameters
    ----------
    path : str or Path
        The ``.msh`` file.
    **params : float
        Any of :data:`DEFAULT_MESH`.

    Returns
    -------
    Path
        The written file; the same parameters give the same mesh.
    """
    from meshfield._gmsh import gmsh_session

    p = {**DEFAULT_MESH, **params}
    length = p["length"]
    with gmsh_session(_CASE) as gmsh:
        occ = gmsh.model.occ
        square = occ.addRectangle(0.0, 0.0, 0.0, length, length)
        occ.synchronize()
        curves = [t for _, t in gmsh.model.getBoundary([(2, square)], oriented=False)]

        field = gmsh.model.mesh.field
        distance = field.add("Distance")
        field.setNumbers(distance, "CurvesList", curves)
        field.setNumber(distance, "Sampling", 200)
        walls = field.add("Threshold")
        field.setNumber(walls, "InField", distance)
        field.setNumber(walls, "SizeMin", p["size_wall"])
        field.setNumber(walls, "SizeMax", p["size"])
        field.setNumber(walls, "DistMin", 0.0)
        field.setNumber(walls, "DistMax", 0.15 * length)
        field.setAsBackgroundMesh(walls)
        for key in (
            "MeshSizeExtendFromBoundary",
            "MeshSizeFromPoints",
            "MeshSizeFromCurvature",
        ):
            gmsh.option.setNumber(f"Mesh.{key}", 0)
        gmsh.option.setNumber("Mesh.Algorithm", 6)

        def classify(x: float, y: float) -> str:
            return "movingWall" if abs(y - length) < 1e-9 * max(1.0, length) else "fixedWalls"

        foam.extrude_one_layer([square], classify, thickness=p["thickness"])
        gmsh.model.mesh.generate(3)
        return foam.write_msh22(path)


def setup_case(
    case: str | Path,
    reynolds: float,
    *,
    end: float,
    interval: float,
    mesh: Mapping[str, float] | None = None,
    solver: Mapping[str, Any] | None = None,
) -> Path:
    """Write a complete icoFoam cavity case for one Reynolds number.

    Parameters
    ----------
    case : str or Path
        The case folder (created).
    reynolds : float
        ``Re = lid_velocity * length / nu``.
    end : float
        End time.
    interval : float
        Time between written snapshots (a multiple of ``delta_t``).
    mesh : mapping, optional
        Mesh parameters (:data:`DEFAULT_MESH`).
    solver : mapping, optional
        Solver settings (:data:`DEFAULT_SOLVER`).

    Returns
    -------
    Path
        The case folder, ready for ``icoFoam``.
    """
    if not reynolds > 0:
        msg = f"Re: expected a positive Reynolds number (got {reynolds})"
        raise ValueError(msg)
    mesh_params = {**DEFAULT_MESH, **(mesh or {})}
    settings = {**DEFAULT_SOLVER, **(solver or {})}
    delta_t = float(settings["delta_t"])
    steps = interval / delta_t
    if abs(steps - round(steps)) > 1e-6 * steps:
        msg = f"interval: expected a multiple of delta_t = {delta_t:g} (got {interval:g})"
        raise ValueError(msg)
    case = Path(case)
    case.mkdir(parents=True, exist_ok=True)
    foam.write_foam_dict(
        case / "system" / "controlDict",
        {
            "application": "icoFoam",
            "startFrom": "startTime",
            "startTime": 0,
            "stopAt": "endTime",
            "endTime": end,
            "deltaT": delta_t,
            "writeControl": "timeStep",
            "writeInterval": round(steps),
            "purgeWrite": 0,
            "writeFormat": "binary",
            "writePrecision": 8,
            "writeCompression": "off",
            "timeFormat": "general",
            "timePrecision": 8,
            "runTimeModifiable": "false",
        },
    )
    foam.write_foam_dict(
        case / "system" / "fvSchemes",
        {
            "ddtSchemes": {"default": "Euler"},
            "gradSchemes": {"default": "Gauss linear"},
            "divSchemes": {
                "default": "none",
                "div(phi,U)": "Gauss linearUpwind grad(U)",
            },
            "laplacianSchemes": {"default": "Gauss linear corrected"},
            "interpolationSchemes": {"default": "linear"},
            "snGradSchemes": {"default": "corrected"},
        },
    )
    foam.write_foam_dict(
        case / "system" / "fvSolution",
        {
            "solvers": {
                "p": {
                    "solver": "PCG",
                    "preconditioner": "DIC",
                    "tolerance": 1e-6,
                    "relTol": 0.05,
                },
                "pFinal": {"$p": None, "relTol": 0},
                "U": {
                    "solver": "smoothSolver",
                    "smoother": "symGaussSeidel",
                    "tolerance": 1e-6,
                    "relTol": 0,
                },
            },
            "PISO": {
                "nCorrectors": settings["n_correctors"],
                "nNonOrthogonalCorrectors": settings["n_non_orthogonal_correctors"],
                "pRefCell": 0,
                "pRefValue": 0,
            },
        },
    )
    nu = settings["lid_velocity"] * mesh_params["length"] / reynolds
    foam.write_foam_dict(
        case / "constant" / "transportProperties",
        {"nu": f"[0 2 -1 0 0 0 0] {foam.format_value(nu)}"},
    )

    msh = make_mesh(case / "mesh.msh", **mesh_params)
    foam.gmsh_to_foam(
        msh, case, {"frontAndBack": "empty", "movingWall": "wall", "fixedWalls": "wall"}
    )
    msh.unlink()

    lid = (float(settings["lid_velocity"]), 0.0, 0.0)
    foam.write_field(
        case,
        "U",
        "[0 1 -1 0 0 0 0]",
        (0.0, 0.0, 0.0),
        {
            "movingWall": {"type": "fixedValue", "value": foam.Uniform(lid)},
            "fixedWalls": {"type": "noSlip"},
            "frontAndBack": {"type": "empty"},
        },
    )
    foam.write_field(
        case,
        "p",
        "[0 2 -2 0 0 0 0]",
        0.0,
        {
            "movingWall": {"type": "zeroGradient"},
            "fixedWalls": {"type": "zeroGradient"},
            "frontAndBack": {"type": "empty"},
        },
    )
    return case


def vortex_centre(graph: Any, *, step: int = -1, margin: float = 0.15) -> np.ndarray:
    """Centre of the primary vortex: the slowest node at least ``margin`` from every wall.

    Parameters
    ----------
    graph : MeshGraph
        A cavity result (``U_x``, ``U_y`` in ``fields``), on the unit square.
    step : int, default: -1
        The time step.
    margin : float, default: 0.15
        Distance from the walls within which nodes are ignored (the corner eddies live there).

    Returns
    -------
    numpy.ndarray
        ``[x, y]`` of that node.
    """
    names = list(graph.field_names)
    velocity = graph.fields[step][:, [names.index("U_x"), names.index("U_y")]].numpy()
    pos = graph.pos.numpy()
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    inside = np.all((pos >= lo + margin) & (pos <= hi - margin), axis=1)
    speed = np.where(inside, np.linalg.norm(velocity, axis=1), np.inf)
    return pos[int(np.argmin(speed))].astype(np.float64)


def simulate(spec: Any, conditions: Mapping[str, float], workdir: str | Path) -> Any:
    """Run one cavity simulation of a spec.

    Parameters
    ----------
    spec : DataSpec
        The spec (``mesh.params``, ``solver.settings``, ``time``).
    conditions : mapping
        ``{"Re": value}``.
    workdir : str or Path
        Scratch folder for the OpenFOAM case (``workdir/case``).

    Returns
    -------
    MeshGraph
        ``pos [N, 2]``, triangle ``cells``, boundary groups ``fixedWalls`` and ``movingWall``,
        ``fields [T, N, 3]`` (``U_x``, ``U_y``, ``p``) at ``spec.time.snapshot_times()``,
        ``times [T]`` and ``cond = [Re]``.
    """
    check_requirements()
    mesh = foam.merge_settings(spec.mesh.params, DEFAULT_MESH, "mesh.params", _CASE)
    settings = foam.merge_settings(spec.solver.settings, DEFAULT_SOLVER, "solver.settings", _CASE)
    reynolds = float(conditions["Re"])
    case = Path(workdir) / "case"
    if case.exists():
        shutil.rmtree(case)
    time = spec.time
    setup_case(case, reynolds, end=time.end, interval=time.interval, mesh=mesh, solver=settings)
    foam.run_tool("icoFoam", case, timeout=settings["timeout"])
    expected = time.snapshot_times()
    graph = foam.read_planar(
        case,
        fields=tuple(spec.fields) or ("U", "p"),
        time_range=(float(expected[0]), float(expected[-1])),
        patches=_PATCHES,
        cond={"Re": reynolds},
    )
    if len(graph.times) != len(expected):
        msg = (
            f"{case}: expected {len(expected)} snapshots at {expected[0]:g} .. {expected[-1]:g} "
            f"every {time.interval:g} (got {len(graph.times)})"
        )
        raise foam.OpenFOAMError(msg)
    return graph
