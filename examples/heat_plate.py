"""Heat conduction on a plate with two holes: data, training, physics fine-tuning, evaluation.

The whole meshfield path on the case that needs no external solver:

1. make the reference data from ``data_specs/heat_plate.yaml`` with the built-in finite-element
   solver (the diffusivity and the temperatures of the left edge and of the holes vary between
   runs), or reuse a dataset folder given with ``--data``;
2. train an HMT model (hybrid Mamba-attention) to step the temperature field forward;
3. fine-tune it with the heat equation (a physics refiner trained on the PDE residual of its
   own predictions, no reference frames), holding the Dirichlet edges at their temperatures;
4. roll both models out on the held-out test runs and compare them with the reference: MSE,
   relative L2, the PDE residual R and MSE-R, before and after fine-tuning;
5. save the fine-tuned rollout as ``result.pvd`` (ParaView, PyVista), residual maps
   (``residual_pretrained.png``, ``residual_finetuned.png``) and per-step error curves.

Run it with::

    python examples/heat_plate.py --quick          # about 2 minutes on a 2-core CPU
    python examples/heat_plate.py                  # about 30-45 minutes on a 2-core CPU

``--out DIR`` picks the output folder (default: ``runs/examples/heat_plate``), ``--data DIR``
an existing dataset folder. Data generation, training and fine-tuning resume where they
stopped when the script is run again with the same ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from meshfield.data import load_spec
from meshfield.physics import Heat
from meshfield.refine import BoundaryValue
from meshfield.workflow import example_arguments, run_workflow, train_settings

SPEC = Path(__file__).resolve().parent.parent / "data_specs" / "heat_plate.yaml"


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
        # a coarser mesh (about 300 nodes), 3 + 1 + 1 runs, 2 s of physical time
        raw["mesh"]["params"].update(size=0.12, hole_size=0.06)
        for condition in raw["conditions"].values():
            condition.update(train=3, val=1, test=1)
        raw["time"].update(end=2.0, interval=0.2)
    return load_spec(raw)


def main() -> None:
    args = example_arguments(__doc__.splitlines()[0], "heat_plate")
    run_workflow(
        name="heat_plate",
        spec=make_spec(args.quick),
        train_config=train_settings(args.quick, args.out / "train", quick_steps_per_epoch=None),
        pde=Heat(),
        # the left edge and the holes carry the temperatures of the run's conditions
        boundary=[
            BoundaryValue("left", "T", "T_left"),
            BoundaryValue("holes", "T", "T_hole"),
        ],
        out=args.out,
        data=args.data,
        quick=args.quick,
        units={"T": "K", "t": "s"},
        field="T",
        reference="the FEM solution",
    )


if __name__ == "__main__":
    main()
