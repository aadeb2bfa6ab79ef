"""Runs made with OpenFOAM outside meshfield: a case that reads, never simulates.

A spec of ``case: openfoam_runs`` describes a folder of finished one-cell-thick (2D) OpenFOAM
cases, one per run, named by their conditions (``Re=150``): the conditions of each split, the
snapshot times, the fields and their units, the PDE. ``meshfield datagen SPEC --out DIR
--from-runs FOLDER`` turns them into a dataset in the layout of simulated data, so
``meshfield train`` and ``evaluate`` take it unchanged; it has no ``simulate``. Every patch that is not ``empty``
becomes a boundary group of its own name.

Example spec::

    case: openfoam_runs
    mesh: {file: my_runs/Re=150}        # one of the cases (the mesh is read from each run)
    pde: {name: navier_stokes, constants: {rho: 1.0}}
    conditions:
      Re: {units: "1", train: [100, 200], test: [150]}
    time: {spin_up: 10.0, end: 12.0, interval: 0.5}
    fields: {U: m/s, p: m^2/s^2}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["check_spec", "read_run"]


def check_spec(spec: Any) -> None:
    """Check a spec before any run is read: a transient or steady time window and fields.

    Raises
    ------
    SpecError
        When the spec cannot describe finished runs.
    """
    from meshfield.errors import SpecError

    if spec.solver is not None and spec.solver.settings:
        msg = "solver.settings: the openfoam_runs case runs no solver (the runs are finished)"
        raise SpecError(msg)
    if not spec.time.steady and (spec.time.interval is None or spec.time.end is None):
        msg = "time: give spin_up, end and interval (the snapshots to read), or steady: true"
        raise SpecError(msg)


def read_run(spec: Any, conditions: Mapping[str, float], case: str | Path) -> Any:
    """Read one finished run: the spec's snapshots of a one-cell-thick case, as 2D.

    Parameters
    ----------
    spec : DataSpec
        The spec (``time``, ``fields``, conditions).
    conditions : mapping
        The run's condition values.
    case : str or Path
        The OpenFOAM case folder.

    Returns
    -------
    MeshGraph
        ``pos [N, 2]``, triangle cells, one boundary group per patch, ``fields [T, N, C]`` at
        ``spec.time.snapshot_times()``, ``times`` and ``cond``.

    Raises
    ------
    MeshValidationError
        When the case lacks some of the snapshots.
    MeshFormatError
        When the case cannot be read or is not one cell thick.
    """
    from meshfield.errors import MeshValidationError
    from meshfield.io.openfoam import read_planar

    expected = spec.time.snapshot_times()
    graph = read_planar(
        case,
        fields=tuple(spec.fields),
        time_range=(float(expected[0]), float(expected[-1])),
        cond={name: float(conditions[name]) for name in spec.condition_names},
        times=[0.0] if spec.time.steady else None,
    )
    if len(graph.times) != len(expected):
        msg = (
            f"{case}: expected {len(expected)} snapshots at {expected[0]:g} .. "
            f"{expected[-1]:g} (got {len(graph.times)})"
        )
        raise MeshValidationError(msg)
    return graph
