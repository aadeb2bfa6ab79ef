"""Lid-driven cavity on a triangle mesh: OpenFOAM data, HMT, physics fine-tuning, evaluation.

1. run OpenFOAM's ``icoFoam`` from rest for the Reynolds numbers of
   ``data_specs/lid_driven_cavity.yaml``, or reuse a dataset folder given with ``--data``;
2. train an HMT model (hybrid Mamba-attention) to step ``U_x, U_y, p`` forward as the primary
   vortex forms;
3. fine-tune it with the incompressible Navier-Stokes equations (a physics refiner trained on
   the PDE residual of its own predictions, no reference frames), holding the lid velocity and
   no-slip on the other walls;
4. roll both models out on the held-out Reynolds numbers and compare them with OpenFOAM: MSE,
   relative L2, the PDE residual R and MSE-R, before and after fine-tuning;
5. save the fine-tuned rollout as ``result.pvd`` (ParaView, PyVista), residual maps of the
   velocity (``residual_pretrained.png``, ``residual_finetuned.png``) and per-step error
   curves (``errors.png``).

Needs OpenFOAM (Debian/Ubuntu: ``apt-get install -y openfoam``) and gmsh (``pip install
gmsh``). Run it with::

    python examples/lid_driven_cavity.py --quick   # about 2 minutes on a 2-core CPU
    python examples/lid_driven_cavity.py           # under an hour on a 2-core CPU

``--out DIR`` picks the output folder (default: ``runs/examples/lid_driven_cavity``), ``--data
DIR`` an existing dataset folder. Data generation, training and fine-tuning resume where they
stopped when the script is run again with the same ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from meshfield.data import load_spec
from meshfield.physics import NavierStokes
from meshfield.refine import BoundaryValue
from meshfield.workflow import example_arguments, run_workflow, train_settings

SPEC = Path(__file__).resolve().parent.parent / "data_specs" / "lid_driven_cavity.yaml"


def make_spec(quick: bool):
    """The data spec: the repository's, or a small version of it for ``--quick``.

    Parameters
    ----------
    quick : bool
        Fewer and shorter runs on a coarser mesh.

    Returns
    -------
    DataSpec
    """
    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    if quick:
        # a coarse mesh (about 350 nodes), two training Reynolds numbers and one test one,
        # the first 3 time units of the start-up
        raw["mesh"]["params"].update(size=0.08, size_wall=0.05)
        raw["conditions"]["Re"] = {"units": "1", "train": [100, 400], "test": [250]}
        raw["time"].update(end=3.0, interval=0.15)
        raw["solver"]["settings"].update(delta_t=0.01)
    return load_spec(raw)


def main() -> None:
    args = example_arguments(__doc__.splitlines()[0], "lid_driven_cavity")
    run_workflow(
        name="lid_driven_cavity",
        spec=make_spec(args.quick),
        train_config=train_settings(args.quick, args.out / "train"),
        # nondimensional with U_lid = L = 1, so nu = 1/Re from each run's condition; p is
        # OpenFOAM's kinematic pressure
        pde=NavierStokes(viscosity="Re"),
        # the lid moves at U = (1, 0), the other walls hold no-slip
        boundary=[
            BoundaryValue("movingWall", "U_x", 1.0),
            BoundaryValue("movingWall", "U_y", 0.0),
            BoundaryValue("fixedWalls", "U_x", 0.0),
            BoundaryValue("fixedWalls", "U_y", 0.0),
        ],
        out=args.out,
        data=args.data,
        quick=args.quick,
        units={"U": "m/s", "p": "m^2/s^2", "t": "s"},
        field="U",
        reference="the OpenFOAM solution",
    )


if __name__ == "__main__":
    main()
