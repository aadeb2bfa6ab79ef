"""Flow past a cylinder (von Karman vortex street): OpenFOAM data, HMT, physics fine-tuning.

1. run OpenFOAM's ``pimpleFoam`` for the Reynolds numbers of ``data_specs/cylinder_wake.yaml``
   (shedding started by a short rotation kick of the cylinder), or reuse a dataset folder given
   with ``--data``;
2. train an HMT model (hybrid Mamba-attention) to step ``U_x, U_y, p`` of the wake forward;
3. fine-tune it with the incompressible Navier-Stokes equations (a physics refiner trained on
   the PDE residual of its own predictions, no reference frames), holding no-slip on the
   cylinder and the free stream at the inlet;
4. roll both models out on the held-out Reynolds numbers and compare them with OpenFOAM: MSE,
   relative L2, the PDE residual R and MSE-R, before and after fine-tuning;
5. save the fine-tuned rollout as ``result.pvd`` (ParaView, PyVista), residual maps of the
   velocity (``residual_pretrained.png``, ``residual_finetuned.png``) and per-step error
   curves (``errors.png``).

Needs OpenFOAM (Debian/Ubuntu: ``apt-get install -y openfoam``) and gmsh (``pip install
gmsh``). Run it with::

    python examples/cylinder_wake.py --quick       # about 3 minutes on a 2-core CPU
    python examples/cylinder_wake.py               # under an hour on a 2-core CPU, most of it
                                                   # the 18 OpenFOAM runs (about 1 min each)

``--out DIR`` picks the output folder (default: ``runs/examples/cylinder_wake``), ``--data
DIR`` an existing dataset folder (e.g. one made by ``meshfield datagen``). Data generation,
training and fine-tuning resume where they stopped when the script is run again with the same
``--out``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from meshfield.data import load_spec
from meshfield.physics import NavierStokes
from meshfield.refine import BoundaryValue
from meshfield.workflow import example_arguments, run_workflow, train_settings

SPEC = Path(__file__).resolve().parent.parent / "data_specs" / "cylinder_wake.yaml"


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
        # a coarse mesh in a shorter channel, two training Reynolds numbers and one test one,
        # 4 time units recorded after 10 of spin-up (the kick starts the shedding by then)
        raw["mesh"]["params"].update(
            x_max=15.0, size_cylinder=0.2, size_wake=0.5, size_far=1.5, wake_length=8.0
        )
        raw["conditions"]["Re"] = {"units": "1", "train": [100, 180], "test": [150]}
        raw["time"].update(spin_up=10.0, end=14.0, interval=0.2)
    return load_spec(raw)


def main() -> None:
    args = example_arguments(__doc__.splitlines()[0], "cylinder_wake")
    run_workflow(
        name="cylinder_wake",
        spec=make_spec(args.quick),
        train_config=train_settings(args.quick, args.out / "train"),
        # nondimensional with D = U_inf = 1, so nu = 1/Re from each run's condition; p is
        # OpenFOAM's kinematic pressure
        pde=NavierStokes(viscosity="Re"),
        # no-slip on the cylinder, the free stream at the inlet
        boundary=[
            BoundaryValue("cylinder", "U_x", 0.0),
            BoundaryValue("cylinder", "U_y", 0.0),
            BoundaryValue("inlet", "U_x", 1.0),
            BoundaryValue("inlet", "U_y", 0.0),
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
