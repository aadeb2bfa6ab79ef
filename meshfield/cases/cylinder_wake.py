"""2D laminar flow past a circular cylinder (von Karman vortex street), solved by OpenFOAM.

Set-up
------
* **Domain**: a cylinder of diameter ``D = 1`` at the origin in the box ``[-8, 25] x [-8, 8]``
  (``x_min``, ``x_max``, ``half_height`` in the mesh params). gmsh meshes it with triangles,
  fine on the cylinder (``size_cylinder``), medium in a wake box behind it (``size_wake``,
  ``wake_length``, ``wake_half_width``) and coarse far away (``size_far``), and extrudes them
  one layer in z (``thickness``) into prisms. ``gmshToFoam`` converts the MSH 2.2 file;
  ``foamDictionary`` makes ``frontAndBack`` ``empty``, ``cylinder`` a ``wall`` and ``walls``
  ``patch``.
* **Flow**: incompressible, laminar, ``U_inf = 1``, ``nu = 1 / Re``. Inlet ``U = (1 0 0)``,
  ``p`` zero gradient; outlet ``p = 0``, ``U`` inletOutlet; top and bottom walls ``slip``;
  cylinder no-slip.
* **Symmetry break**: the cylinder rotates with an angular velocity ramped linearly from
  ``kick_omega`` to 0 by ``t = kick_end`` (``rotatingWallVelocity`` with a table), so shedding
  starts early and the cylinder is a plain no-slip wall afterwards.
* **Solver**: ``pimpleFoam`` (PIMPLE in PISO mode), ``backward`` in time, ``linearUpwind`` for
  convection, adjustable time step with Courant number ``max_co`` (0.8). The flow spins up
  unrecorded until ``spin_up``, then a restart writes snapshots every ``interval`` (binary)
  until ``end`` (``writeControl adjustableRunTime``, so the snapshots fall on exact times).
* **Lift and drag**: a ``forceCoeffs`` function object on the cylinder (reference length 1,
  area ``D * thickness``) writes ``Cd`` and ``Cl`` every step; :func:`read_force_coefficients`
  reads them and :func:`strouhal_number` gives ``St = f D / U_inf`` from the zero crossings of
  ``Cl``.
* **Result**: the back face of the mesh as a triangle :class:`~meshfield.data.MeshGraph` with
  fields ``U_x, U_y, p`` per snapshot, ``cond = [Re]`` and boundary groups ``inlet``,
  ``outlet``, ``walls``, ``cylinder``.

Run time and accuracy
---------------------
Measured on this machine (2 CPU cores shared with other work, OpenFOAM v1912 from Debian, one
serial run): the default mesh (5 363 prisms, 32 faces on the cylinder) runs 60 time units at
``Re = 100`` in 21 s and sheds with ``St = 0.1675`` (within 1.5 % of 0.165; the 1/16 blockage
raises it slightly), ``Cd = 1.42`` and ``Cl`` amplitude 0.38; shedding is saturated by
``t = 10`` thanks to the kick. The spec's mesh (``data_specs/cylinder_wake.yaml``: 8 931
prisms, 4 548 nodes in 2D) with 25 time units of spin-up and 100 snapshots: the 18 runs of
``meshfield datagen data_specs/cylinder_wake.yaml --jobs 2`` took 37 min of wall time (155 to
345 s per run, the two cores shared with about ten other busy processes), 107 MB on disk;
``St`` from the transverse velocity at (3, 0) rises from 0.143 at ``Re = 60`` through 0.169
at ``Re = 100`` to 0.196 at ``Re = 200``.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.cases import openfoam as foam

__all__ = [
    "DEFAULT_MESH",
    "DEFAULT_SOLVER",
    "PROBE",
    "check_requirements",
    "check_spec",
    "make_mesh",
    "read_force_coefficients",
    "read_run",
    "setup_case",
    "simulate",
    "strouhal_number",
]

#: Mesh parameters (``spec.mesh.params``) and their defaults.
DEFAULT_MESH: dict[str, float] = {
    "x_min": -8.0,
    "x_max": 25.0,
    "half_height": 8.0,
    "size_cylinder": 0.1,
    "size_wake": 0.3,
    "size_far": 1.0,
    "wake_length": 15.0,
    "wake_half_width": 2.5,
    "thickness": 0.1,
}

#: Where the wake is probed for its Strouhal number and amplitude (``U_y``, 3.5 diameters
#: behind the cylinder on the centre line): ``meshfield evaluate`` reads it.
PROBE: tuple[float, float] = (3.5, 0.0)

#: Solver settings (``spec.solver.settings``) and their defaults.
DEFAULT_SOLVER: dict[str, Any] = {
    "max_co": 0.8,
    "max_dt": 0.05,
    "kick_omega": 1.0,
    "kick_end": 2.0,
    "n_correctors": 2,
    "n_non_orthogonal_correctors": 0,
    "timeout": None,
}

_TOOLS = ("gmshToFoam", "foamDictionary", "pimpleFoam")
_PATCHES = ("inlet", "outlet", "walls", "cylinder")


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
        msg = "The cylinder_wake case meshes with gmsh: pip install gmsh"
        raise MissingDependencyError(msg) from exc
    foam.check_openfoam(_TOOLS, case="cylinder_wake")


def check_spec(spec: Any) -> None:
    """Check a spec before any run: mesh generator and params, conditions, time window.

    Raises
    ------
    SpecError
        For settings this case cannot run.
    """
    from meshfield.errors import SpecError

    if spec.mesh.file is not None or spec.mesh.generator not in (
        None,
        "cylinder_channel",
    ):
        msg = "mesh: the cylinder_wake case builds its mesh: use {generator: cylinder_channel}"
        raise SpecError(msg)
    foam.merge_settings(spec.mesh.params, DEFAULT_MESH, "mesh.params", "cylinder_wake")
    foam.merge_settings(spec.solver.settings, DEFAULT_SOLVER, "solver.settings", "cylinder_wake")
    if spec.condition_names != ["Re"]:
        msg = f"conditions: the cylinder_wake case takes one condition, Re (got {spec.condition_names})"
        raise SpecError(msg)
    if spec.time.steady or spec.time.interval is None or spec.time.end is None:
        msg = "time: the cylinder_wake case is transient: give spin_up, end and interval"
        raise SpecError(msg)
    if spec.time.spin_up <= 0:
        msg = f"time.spin_up: expected a positive spin-up time (got {spec.time.spin_up})"
        raise SpecError(msg)


def make_mesh(path: str | Path, **params: float) -> Path:
    """Write the one-layer cylinder-in-channel mesh as MSH 2.2 with named patches.

    Parameters
    ----------
    path : str or Path
        The ``.msh`` file.
    **params : float
        Any of :data:`DEFAULT_MESH`.

    Returns
    -------
    Path
        The written file. The same parameters give the same mesh (gmsh is deterministic), so
        runs that share a recipe share the node order.
    """
    from meshfield._gmsh import gmsh_session

    p = {**DEFAULT_MESH, **params}
    x_min, x_max, half = p["x_min"], p["x_max"], p["half_height"]
    with gmsh_session("cylinder_wake") as gmsh:
        occ = gmsh.model.occ
        box = occ.addRectangle(x_min, -half, 0.0, x_max - x_min, 2 * half)
        disk = occ.addDisk(0.0, 0.0, 0.0, 0.5, 0.5)
        fluid, _ = occ.cut([(2, box)], [(2, disk)])
        occ.synchronize()
        cylinder = [
            tag
            for _, tag in gmsh.model.getBoundary(fluid, oriented=False)
            if math.hypot(*occ.getCenterOfMass(1, tag)[:2]) < 1.0
        ]

        field = gmsh.model.mesh.field
        distance = field.add("Distance")
        field.setNumbers(distance, "CurvesList", cylinder)
        field.setNumber(distance, "Sampling", 200)
        near = field.add("Threshold")
        field.setNumber(near, "InField", distance)
        field.setNumber(near, "SizeMin", p["size_cylinder"])
        field.setNumber(near, "SizeMax", p["size_far"])
        field.setNumber(near, "DistMin", 0.2)
        field.setNumber(near, "DistMax", 8.0)
        wake = field.add("Box")
        for key, value in (
            ("VIn", p["size_wake"]),
            ("VOut", p["size_far"]),
            ("XMin", 0.0),
            ("XMax", p["wake_length"]),
            ("YMin", -p["wake_half_width"]),
            ("YMax", p["wake_half_width"]),
            ("Thickness", 3.0),
        ):
            field.setNumber(wake, key, value)
        both = field.add("Min")
        field.setNumbers(both, "FieldsList", [near, wake])
        field.setAsBackgroundMesh(both)
        for key in (
            "MeshSizeExtendFromBoundary",
            "MeshSizeFromPoints",
            "MeshSizeFromCurvature",
        ):
            gmsh.option.setNumber(f"Mesh.{key}", 0)
        gmsh.option.setNumber("Mesh.Algorithm", 6)

        def classify(x: float, y: float) -> str:
            if abs(x - x_min) < 1e-6:
                return "inlet"
            if abs(x - x_max) < 1e-6:
                return "outlet"
            if abs(abs(y) - half) < 1e-6:
                return "walls"
            return "cylinder"

        foam.extrude_one_layer([t for _, t in fluid], classify, thickness=p["thickness"])
        gmsh.model.mesh.generate(3)
        return foam.write_msh22(path)


def _control_dict(
    end: float, write_interval: float, solver: Mapping[str, Any], area: float
) -> dict[str, Any]:
    return {
        "application": "pimpleFoam",
        "startFrom": "latestTime",
        "startTime": 0,
        "stopAt": "endTime",
        "endTime": end,
        "deltaT": min(0.01, solver["max_dt"]),
        "writeControl": "adjustableRunTime",
        "writeInterval": write_interval,
        "purgeWrite": 0,
        "writeFormat": "binary",
        "writePrecision": 8,
        "writeCompression": "off",
        "timeFormat": "general",
        "timePrecision": 8,
        "runTimeModifiable": "false",
        "adjustTimeStep": "yes",
        "maxCo": solver["max_co"],
        "maxDeltaT": solver["max_dt"],
        "functions": {
            "forceCoeffs": {
                "type": "forceCoeffs",
                "libs": '("libforces.so")',
                "writeControl": "timeStep",
                "writeInterval": 1,
                "log": "false",
                "patches": "(cylinder)",
                "rho": "rhoInf",
                "rhoInf": 1,
                "CofR": (0, 0, 0),
                "liftDir": (0, 1, 0),
                "dragDir": (1, 0, 0),
                "pitchAxis": (0, 0, 1),
                "magUInf": 1,
                "lRef": 1,
                "Aref": area,
            }
        },
    }


def setup_case(
    case: str | Path,
    reynolds: float,
    *,
    mesh: Mapping[str, float] | None = None,
    solver: Mapping[str, Any] | None = None,
    spin_up: float = 25.0,
) -> Path:
    """Write a complete pimpleFoam case (mesh, fields, dictionaries) for one Reynolds number.

    Parameters
    ----------
    case : str or Path
        The case folder (created).
    reynolds : float
        ``Re = U_inf D / nu`` with ``U_inf = D = 1``.
    mesh : mapping, optional
        Mesh parameters (:data:`DEFAULT_MESH`).
    solver : mapping, optional
        Solver settings (:data:`DEFAULT_SOLVER`).
    spin_up : float, default: 25.0
        End time of the first (unrecorded) run.

    Returns
    -------
    Path
        The case folder, ready for ``pimpleFoam``.
    """
    if not reynolds > 0:
        msg = f"Re: expected a positive Reynolds number (got {reynolds})"
        raise ValueError(msg)
    mesh_params = {**DEFAULT_MESH, **(mesh or {})}
    settings = {**DEFAULT_SOLVER, **(solver or {})}
    case = Path(case)
    case.mkdir(parents=True, exist_ok=True)
    area = 1.0 * mesh_params["thickness"]
    foam.write_foam_dict(
        case / "system" / "controlDict", _control_dict(spin_up, spin_up, settings, area)
    )
    foam.write_foam_dict(
        case / "system" / "fvSchemes",
        {
            "ddtSchemes": {"default": "backward"},
            "gradSchemes": {"default": "Gauss linear"},
            "divSchemes": {
                "default": "none",
                "div(phi,U)": "Gauss linearUpwind grad(U)",
                "div((nuEff*dev2(T(grad(U)))))": "Gauss linear",
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
                    "solver": "GAMG",
                    "smoother": "GaussSeidel",
                    "tolerance": 1e-6,
                    "relTol": 0.01,
                },
                "pFinal": {"$p": None, "relTol": 0},
                '"(U|UFinal)"': {
                    "solver": "smoothSolver",
                    "smoother": "symGaussSeidel",
                    "tolerance": 1e-7,
                    "relTol": 0,
                },
            },
            "PIMPLE": {
                "momentumPredictor": "yes",
                "nOuterCorrectors": 1,
                "nCorrectors": settings["n_correctors"],
                "nNonOrthogonalCorrectors": settings["n_non_orthogonal_correctors"],
            },
        },
    )
    foam.write_foam_dict(
        case / "constant" / "transportProperties",
        {"transportModel": "Newtonian", "nu": 1.0 / reynolds},
    )
    foam.write_foam_dict(case / "constant" / "turbulenceProperties", {"simulationType": "laminar"})

    msh = make_mesh(case / "mesh.msh", **mesh_params)
    foam.gmsh_to_foam(
        msh,
        case,
        {
            "frontAndBack": "empty",
            "cylinder": "wall",
            "walls": "patch",
            "inlet": "patch",
            "outlet": "patch",
        },
    )
    msh.unlink()

    omega, ramp = settings["kick_omega"], settings["kick_end"]
    foam.write_field(
        case,
        "U",
        "[0 1 -1 0 0 0 0]",
        (1.0, 0.0, 0.0),
        {
            "inlet": {"type": "fixedValue", "value": foam.Uniform((1.0, 0.0, 0.0))},
            "outlet": {
                "type": "inletOutlet",
                "inletValue": foam.Uniform((0, 0, 0)),
                "value": foam.Uniform((1.0, 0.0, 0.0)),
            },
            "walls": {"type": "slip"},
            "cylinder": {
                "type": "rotatingWallVelocity",
                "origin": (0, 0, 0),
                "axis": (0, 0, 1),
                "omega": f"table ((0 {foam.format_value(omega)}) ({foam.format_value(ramp)} 0))",
                "value": foam.Uniform((0, 0, 0)),
            },
            "frontAndBack": {"type": "empty"},
        },
    )
    foam.write_field(
        case,
        "p",
        "[0 2 -2 0 0 0 0]",
        0.0,
        {
            "inlet": {"type": "zeroGradient"},
            "outlet": {"type": "fixedValue", "value": foam.Uniform(0.0)},
            "walls": {"type": "zeroGradient"},
            "cylinder": {"type": "zeroGradient"},
            "frontAndBack": {"type": "empty"},
        },
    )
    return case


def run_case(
    case: str | Path,
    *,
    spin_up: float,
    end: float,
    interval: float,
    solver: Mapping[str, Any] | None = None,
    thickness: float = DEFAULT_MESH["thickness"],
) -> None:
    """Run a case written by :func:`setup_case`: spin up to ``spin_up``, then record.

    Parameters
    ----------
    case : str or Path
        The case folder.
    spin_up, end, interval : float
        First snapshot, last snapshot and the time between snapshots.
    solver : mapping, optional
        Solver settings (:data:`DEFAULT_SOLVER`).
    thickness : float
        Extrusion thickness of the mesh (for the force reference area).
    """
    settings = {**DEFAULT_SOLVER, **(solver or {})}
    case = Path(case)
    timeout = settings["timeout"]
    foam.run_tool("pimpleFoam", case, log="log.pimpleFoam.spinUp", timeout=timeout)
    foam.write_foam_dict(
        case / "system" / "controlDict",
        _control_dict(end, interval, settings, thickness),
    )
    foam.run_tool("pimpleFoam", case, log="log.pimpleFoam", timeout=timeout)


def read_force_coefficients(case: str | Path) -> dict[str, np.ndarray]:
    """The force-coefficient history of a run: ``Time``, ``Cd``, ``Cl``, ... per time step.

    Parameters
    ----------
    case : str or Path
        The case folder of a finished run.

    Returns
    -------
    dict of str to numpy.ndarray
        Columns of the ``forceCoeffs`` table, spin-up and recording joined.
    """
    return foam.read_function_object(case, "forceCoeffs")


def strouhal_number(
    times: Sequence[float] | np.ndarray,
    lift: Sequence[float] | np.ndarray,
    *,
    diameter: float = 1.0,
    velocity: float = 1.0,
    start: float | None = None,
) -> float:
    r"""Strouhal number of a lift history, from its upward zero crossings.

    .. math::
        St = \frac{f D}{U}, \qquad f = \frac{n - 1}{t_n - t_1}

    where :math:`t_1 < ... < t_n` are the upward crossings of :math:`C_l - \overline{C_l}`,
    found by linear interpolation between samples (which may be unevenly spaced).

    Parameters
    ----------
    times, lift : array_like
        Sample times and lift (coefficient) values, ``[n]``.
    diameter : float, default: 1.0
        Cylinder diameter ``D``.
    velocity : float, default: 1.0
        Free-stream velocity ``U``.
    start : float, optional
        Use only samples at ``t >= start`` (skip the transient). default: all.

    Returns
    -------
    float
        The Strouhal number.

    Raises
    ------
    ValueError
        Arrays of different lengths, or fewer than two upward crossings (less than one period).

    Example
    -------
    >>> t = np.linspace(0.0, 30.0, 3001)
    >>> round(strouhal_number(t, np.sin(2 * np.pi * 0.2 * t)), 4)
    0.2
    """
    t = np.asarray(times, dtype=np.float64)
    c = np.asarray(lift, dtype=np.float64)
    if t.shape != c.shape or t.ndim != 1:
        msg = f"times and lift: expected two arrays of shape [n] (got {t.shape} and {c.shape})"
        raise ValueError(msg)
    if start is not None:
        keep = t >= start
        t, c = t[keep], c[keep]
    c = c - c.mean()
    up = np.flatnonzero((c[:-1] < 0) & (c[1:] >= 0))
    crossings = t[up] - c[up] * (t[up + 1] - t[up]) / (c[up + 1] - c[up])
    if len(crossings) < 2:
        msg = (
            f"lift: expected at least two upward zero crossings to measure a period "
            f"(got {len(crossings)} over t = {t[0] if len(t) else 'none'} .. "
            f"{t[-1] if len(t) else 'none'}); is the wake shedding?"
        )
        raise ValueError(msg)
    frequency = (len(crossings) - 1) / (crossings[-1] - crossings[0])
    return float(frequency * diameter / velocity)


def simulate(spec: Any, conditions: Mapping[str, float], workdir: str | Path) -> Any:
    """Run one cylinder-wake simulation of a spec.

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
        ``pos [N, 2]``, triangle ``cells``, boundary groups ``inlet``, ``outlet``, ``walls``,
        ``cylinder``, ``fields [T, N, 3]`` (``U_x``, ``U_y``, ``p``) at
        ``spec.time.snapshot_times()``, ``times [T]`` and ``cond = [Re]``.
    """
    check_requirements()
    mesh = foam.merge_settings(spec.mesh.params, DEFAULT_MESH, "mesh.params", "cylinder_wake")
    settings = foam.merge_settings(
        spec.solver.settings, DEFAULT_SOLVER, "solver.settings", "cylinder_wake"
    )
    reynolds = float(conditions["Re"])
    case = Path(workdir) / "case"
    if case.exists():
        shutil.rmtree(case)
    time = spec.time
    setup_case(case, reynolds, mesh=mesh, solver=settings, spin_up=time.spin_up)
    run_case(
        case,
        spin_up=time.spin_up,
        end=time.end,
        interval=time.interval,
        solver=settings,
        thickness=mesh["thickness"],
    )
    return read_run(spec, conditions, case)


def read_run(spec: Any, conditions: Mapping[str, float], case: str | Path) -> Any:
    """Read a finished cylinder-wake run: the spec's snapshots of a one-cell-thick case.

    Used by :func:`simulate` and by ``meshfield datagen --from-runs`` for runs made without
    meshfield (their patches must be named ``inlet``, ``outlet``, ``walls``, ``cylinder``).

    Parameters
    ----------
    spec : DataSpec
        The spec (``time``, ``fields``).
    conditions : mapping
        ``{"Re": value}``.
    case : str or Path
        The OpenFOAM case folder.

    Returns
    -------
    MeshGraph
        As :func:`simulate`.
    """
    expected = spec.time.snapshot_times()
    graph = foam.read_planar(
        case,
        fields=tuple(spec.fields) or ("U", "p"),
        time_range=(float(expected[0]), float(expected[-1])),
        patches=_PATCHES,
        cond={"Re": float(conditions["Re"])},
    )
    if len(graph.times) != len(expected):
        msg = (
            f"{case}: expected {len(expected)} snapshots at {expected[0]:g} .. {expected[-1]:g} "
            f"every {spec.time.interval:g} (got {len(graph.times)})"
        )
        raise foam.OpenFOAMError(msg)
    return graph
