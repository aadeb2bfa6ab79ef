"""Steady turbulent flow around an airfoil, solved by OpenFOAM's ``simpleFoam``.

Set-up
------
* **Mesh**: the 2D airfoil mesh of OpenFOAM's ``incompressible/simpleFoam/airFoil2D`` tutorial
  (10 720 hexahedra, one layer thick; chord about 35 length units in a far field of radius
  about 240), copied from the installed tutorials (Debian/Ubuntu: ``apt-get install -y
  openfoam-examples``; or set ``FOAM_TUTORIALS``). Patches: ``inlet``, ``outlet``, ``walls``
  (the airfoil, stored as boundary group ``airfoil``) and ``frontAndBack`` (empty).
* **Flow**: incompressible RANS with the Spalart-Allmaras model, kinematic viscosity ``nu``
  (1e-5). The free stream ``U_inf (cos aoa, sin aoa, 0)`` is imposed by ``freestreamVelocity``
  / ``freestreamPressure`` on inlet and outlet; the airfoil is no-slip with a Spalding wall
  function for ``nut``; ``nuTilda = nut = nu_tilda`` in the free stream.
* **Solver**: ``simpleFoam`` (SIMPLE, relaxation 0.3 on ``p`` and 0.7 on ``U`` and
  ``nuTilda``, ``linearUpwind`` convection) for ``iterations`` iterations or until the
  residuals fall below 1e-5.
* **Conditions**: ``aoa`` (angle of attack, degrees) and ``U_inf`` (speed, m/s). The tutorial
  runs ``aoa`` = 8.0, ``U_inf`` = 26.0.
* **Result**: the back face as a :class:`~meshfield.data.MeshGraph` (each hexahedron's face
  split into two triangles), one snapshot (``fields [1, N, C]``, ``times = [0.0]``) of the
  fields the spec names (``U`` -> ``U_x``, ``U_y``; ``p``; ``nut``; ``nuTilda``), boundary
  groups ``inlet``, ``outlet``, ``airfoil``.

Run time
--------
Measured on this machine (2 CPU cores shared with other work, OpenFOAM v1912 from Debian, one
serial run): 100 iterations take 1.2 s of solver time. At the tutorial's free stream
(``aoa = 8``, ``U_inf = 26``) the spec's settings converge (residuals below 1e-5) after 313
iterations; the whole run, reading included, takes 3.8 s.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meshfield.cases import openfoam as foam

__all__ = [
    "DEFAULT_SOLVER",
    "TUTORIAL",
    "check_requirements",
    "check_spec",
    "setup_case",
    "simulate",
]

#: The tutorial whose mesh this case uses, relative to the tutorials folder.
TUTORIAL = "incompressible/simpleFoam/airFoil2D"

#: Solver settings (``spec.solver.settings``) and their defaults.
DEFAULT_SOLVER: dict[str, Any] = {
    "iterations": 500,
    "nu": 1e-5,
    "nu_tilda": 0.14,
    "residual": 1e-5,
    "timeout": None,
}

_TOOLS = ("simpleFoam",)
_PATCHES = {"inlet": "inlet", "outlet": "outlet", "walls": "airfoil"}
_CONDITIONS = ["aoa", "U_inf"]
_CASE = "airfoil"


def check_requirements() -> None:
    """Check that ``simpleFoam`` and the airFoil2D tutorial mesh are installed.

    Raises
    ------
    OpenFOAMNotFoundError
        With the install command of what is missing.
    """
    foam.check_openfoam(_TOOLS, case=_CASE)
    foam.tutorial_dir(TUTORIAL)


def check_spec(spec: Any) -> None:
    """Check a spec before any run: mesh, conditions, steady time, settings.

    Raises
    ------
    SpecError
        For settings this case cannot run.
    """
    from meshfield.errors import SpecError

    if spec.mesh.file is not None or spec.mesh.generator not in (
        None,
        "airfoil2d_tutorial",
    ):
        msg = (
            f"mesh: the {_CASE} case uses the tutorial mesh: use {{generator: airfoil2d_tutorial}}"
        )
        raise SpecError(msg)
    if spec.mesh.params:
        msg = f"mesh.params: the {_CASE} case takes none (got {sorted(spec.mesh.params)})"
        raise SpecError(msg)
    foam.merge_settings(spec.solver.settings, DEFAULT_SOLVER, "solver.settings", _CASE)
    if sorted(spec.condition_names) != sorted(_CONDITIONS):
        msg = f"conditions: the {_CASE} case takes {_CONDITIONS} (got {spec.condition_names})"
        raise SpecError(msg)
    if not spec.time.steady:
        msg = f"time: the {_CASE} case is steady: use {{steady: true}}"
        raise SpecError(msg)
    unknown = sorted(set(spec.fields) - {"U", "p", "nut", "nuTilda"})
    if unknown:
        msg = f"fields: the {_CASE} case writes U, p, nut and nuTilda (got {unknown})"
        raise SpecError(msg)


def setup_case(
    case: str | Path,
    aoa: float,
    speed: float,
    *,
    solver: Mapping[str, Any] | None = None,
) -> Path:
    """Write a complete simpleFoam case on the tutorial mesh.

    Parameters
    ----------
    case : str or Path
        The case folder (created).
    aoa : float
        Angle of attack in degrees (the free stream's angle to the x axis).
    speed : float
        Free-stream speed ``U_inf``.
    solver : mapping, optional
        Solver settings (:data:`DEFAULT_SOLVER`).

    Returns
    -------
    Path
        The case folder, ready for ``simpleFoam``.
    """
    if not (math.isfinite(aoa) and math.isfinite(speed) and speed > 0):
        msg = f"aoa, U_inf: expected a finite angle and a positive speed (got {aoa}, {speed})"
        raise ValueError(msg)
    settings = {**DEFAULT_SOLVER, **(solver or {})}
    case = Path(case)
    (case / "constant").mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        foam.tutorial_dir(TUTORIAL) / "constant" / "polyMesh",
        case / "constant" / "polyMesh",
    )
    iterations = int(settings["iterations"])
    foam.write_foam_dict(
        case / "system" / "controlDict",
        {
            "application": "simpleFoam",
            "startFrom": "startTime",
            "startTime": 0,
            "stopAt": "endTime",
            "endTime": iterations,
            "deltaT": 1,
            "writeControl": "timeStep",
            "writeInterval": iterations,
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
            "ddtSchemes": {"default": "steadyState"},
            "gradSchemes": {"default": "Gauss linear"},
            "divSchemes": {
                "default": "none",
                "div(phi,U)": "bounded Gauss linearUpwind grad(U)",
                "div(phi,nuTilda)": "bounded Gauss linearUpwind grad(nuTilda)",
                "div((nuEff*dev2(T(grad(U)))))": "Gauss linear",
            },
            "laplacianSchemes": {"default": "Gauss linear corrected"},
            "interpolationSchemes": {"default": "linear"},
            "snGradSchemes": {"default": "corrected"},
            "wallDist": {"method": "meshWave"},
        },
    )
    smooth = {
        "solver": "smoothSolver",
        "smoother": "GaussSeidel",
        "nSweeps": 2,
        "tolerance": 1e-8,
        "relTol": 0.1,
    }
    residual = settings["residual"]
    foam.write_foam_dict(
        case / "system" / "fvSolution",
        {
            "solvers": {
                "p": {
                    "solver": "GAMG",
                    "smoother": "GaussSeidel",
                    "tolerance": 1e-6,
                    "relTol": 0.1,
                },
                "U": smooth,
                "nuTilda": smooth,
            },
            "SIMPLE": {
                "nNonOrthogonalCorrectors": 0,
                "residualControl": {"p": residual, "U": residual, "nuTilda": residual},
            },
            "relaxationFactors": {
                "fields": {"p": 0.3},
                "equations": {"U": 0.7, "nuTilda": 0.7},
            },
        },
    )
    foam.write_foam_dict(
        case / "constant" / "transportProperties",
        {"transportModel": "Newtonian", "rho": 1, "nu": settings["nu"]},
    )
    foam.write_foam_dict(
        case / "constant" / "turbulenceProperties",
        {
            "simulationType": "RAS",
            "RAS": {
                "RASModel": "SpalartAllmaras",
                "turbulence": "on",
                "printCoeffs": "off",
            },
        },
    )

    angle = math.radians(aoa)
    velocity = (speed * math.cos(angle), speed * math.sin(angle), 0.0)
    free_u = {"type": "freestreamVelocity", "freestreamValue": foam.Uniform(velocity)}
    foam.write_field(
        case,
        "U",
        "[0 1 -1 0 0 0 0]",
        velocity,
        {
            "inlet": free_u,
            "outlet": free_u,
            "walls": {"type": "noSlip"},
            "frontAndBack": {"type": "empty"},
        },
    )
    free_p = {"type": "freestreamPressure", "freestreamValue": foam.Uniform(0.0)}
    foam.write_field(
        case,
        "p",
        "[0 2 -2 0 0 0 0]",
        0.0,
        {
            "inlet": free_p,
            "outlet": free_p,
            "walls": {"type": "zeroGradient"},
            "frontAndBack": {"type": "empty"},
        },
    )
    nu_tilda = float(settings["nu_tilda"])
    free_nu = {"type": "freestream", "freestreamValue": foam.Uniform(nu_tilda)}
    foam.write_field(
        case,
        "nut",
        "[0 2 -1 0 0 0 0]",
        nu_tilda,
        {
            "inlet": free_nu,
            "outlet": free_nu,
            "walls": {"type": "nutUSpaldingWallFunction", "value": foam.Uniform(0.0)},
            "frontAndBack": {"type": "empty"},
        },
    )
    foam.write_field(
        case,
        "nuTilda",
        "[0 2 -1 0 0 0 0]",
        nu_tilda,
        {
            "inlet": free_nu,
            "outlet": free_nu,
            "walls": {"type": "fixedValue", "value": foam.Uniform(0.0)},
            "frontAndBack": {"type": "empty"},
        },
    )
    return case


def simulate(spec: Any, conditions: Mapping[str, float], workdir: str | Path) -> Any:
    """Run one airfoil simulation of a spec.

    Parameters
    ----------
    spec : DataSpec
        The spec (``solver.settings``, ``fields``).
    conditions : mapping
        ``{"aoa": degrees, "U_inf": speed}``.
    workdir : str or Path
        Scratch folder for the OpenFOAM case (``workdir/case``).

    Returns
    -------
    MeshGraph
        ``pos [N, 2]``, triangle ``cells``, boundary groups ``inlet``, ``outlet``,
        ``airfoil``, ``fields [1, N, C]`` of the converged (or last) iteration, ``times = [0]``
        and ``cond`` in the order of the spec's conditions.
    """
    check_requirements()
    settings = foam.merge_settings(spec.solver.settings, DEFAULT_SOLVER, "solver.settings", _CASE)
    aoa, speed = float(conditions["aoa"]), float(conditions["U_inf"])
    case = Path(workdir) / "case"
    if case.exists():
        shutil.rmtree(case)
    setup_case(case, aoa, speed, solver=settings)
    foam.run_tool("simpleFoam", case, timeout=settings["timeout"])
    last = max(foam.time_folders(case), default=0.0)
    if last == 0.0:
        msg = f"{case}: simpleFoam wrote no result (see {case / 'log.simpleFoam'})"
        raise foam.OpenFOAMError(msg)
    names = getattr(spec, "condition_names", _CONDITIONS)
    return foam.read_planar(
        case,
        fields=tuple(spec.fields) or ("U", "p"),
        time_range=(last, last),
        patches=_PATCHES,
        cond={name: float(conditions[name]) for name in names},
        times=[0.0],
    )
