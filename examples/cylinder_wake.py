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

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

import meshfield
from meshfield.cases.datagen import datagen
from meshfield.data import load_dataset, load_spec
from meshfield.metrics import (
    format_scores_table,
    graph_conditions,
    mean_scores,
    trajectory_scores,
)
from meshfield.physics import NavierStokes
from meshfield.physics.finetune import FinetuneConfig, finetune
from meshfield.physics.refine import BoundaryValue, apply_refiner
from meshfield.train import TrainConfig, train
from meshfield.viz import error_curves, residual_map

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


def make_train_config(quick: bool, out_dir: Path) -> TrainConfig:
    """Model and optimizer settings.

    Parameters
    ----------
    quick : bool
        A tiny model and a few epochs.
    out_dir : Path
        The training run folder.

    Returns
    -------
    TrainConfig
    """
    if quick:
        # small Mamba heads (headdim 8, state 8): at width 32 the default heads of 64 make one
        # large head and cost four times as much on a CPU
        return TrainConfig(
            model="hmt",
            width=32,
            model_options={
                "d_latent": 16,
                "encoder": {"fourier_features": 4, "message_passing": 1},
                "backbone": {
                    "pattern": "MA",
                    "patch_size": 64,
                    "num_heads": 2,
                    "mamba": {"d_state": 8, "headdim": 8, "chunk_size": 32},
                },
            },
            epochs=3,
            batch_size=4,
            steps_per_epoch=6,
            warmup_steps=10,
            lr=2e-3,
            out_dir=str(out_dir),
        )
    return TrainConfig(
        model="hmt",
        width=64,
        model_options={
            "d_latent": 32,
            "backbone": {
                "pattern": "MAMA",
                "patch_size": 128,
                "mamba": {"d_state": 16, "headdim": 16, "chunk_size": 64},
            },
        },
        epochs=20,
        batch_size=4,
        steps_per_epoch=60,
        warmup_steps=100,
        lr=1e-3,
        noise_std=0.01,
        patience=8,
        out_dir=str(out_dir),
    )


def print_table(before: dict[str, float], after: dict[str, float]) -> None:
    """The results table: the mean over the test runs, before and after fine-tuning."""
    print()
    print(format_scores_table({"pretrained": before, "fine-tuned": after}))
    print(
        f"(test runs; MSE of normalized fields, R: mean squared Navier-Stokes residual in "
        f"physical units on interior nodes, R_ref = {before['R_ref']:.4g} of the OpenFOAM "
        "solution on the same mesh; MSE-R = MSE + R/R_ref)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings (about 2 minutes)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/examples/cylinder_wake"))
    parser.add_argument(
        "--data", type=Path, default=None, help="an existing dataset folder"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    clock = time.perf_counter()

    # 1. reference data (resumed run by run when interrupted)
    data_dir = args.data
    if data_dir is None:
        data_dir = datagen(make_spec(args.quick), args.out / "data", jobs=1)
    train_set = load_dataset(data_dir, "train")
    test_set = load_dataset(data_dir, "test")

    # 2. train HMT; the best checkpoint (lowest validation rollout error) is kept
    config = make_train_config(args.quick, args.out / "train")
    run = train(config, data_dir, resume=(args.out / "train" / "last").is_dir())
    model = meshfield.load_model(run.best)

    # 3. physics fine-tuning with Navier-Stokes, self-supervised: nondimensional with D = U_inf
    #    = 1, so nu = 1/Re from each run's condition; p is OpenFOAM's kinematic pressure
    pde = NavierStokes(viscosity="Re")
    boundary = [
        BoundaryValue("cylinder", "U_x", 0.0),
        BoundaryValue("cylinder", "U_y", 0.0),
        BoundaryValue("inlet", "U_x", 1.0),
        BoundaryValue("inlet", "U_y", 0.0),
    ]
    tune = FinetuneConfig(
        steps=30 if args.quick else 600,
        calibration_steps=10 if args.quick else 100,
        domain_points=96 if args.quick else 256,
        hidden=16 if args.quick else 32,
        lr=3e-3 if args.quick else 1e-3,
    )
    finetune(
        model,
        train_set,
        pde,
        config=tune,
        boundary=boundary,
        out=args.out / "finetuned",
        max_runs=2 if args.quick else None,
    )

    # 4. evaluation on the test runs: rollout from the first frame, then refined
    rows_before, rows_after = [], []
    # the model's field scale normalizes the MSE; its given frames are not scored
    model_scale = {
        "scale": model.normalizer.field_std,
        "field_names": list(model.field_names),
        "history": model.history,
    }
    for i in range(len(test_set)):
        graph = test_set[i]
        initial = graph.fields[: model.history].float()
        steps = graph.fields.size(0) - model.history
        with torch.no_grad():
            before = model.rollout(graph, steps, initial=initial)
        after = apply_refiner(model, graph, before)
        rows_before.append(trajectory_scores(before, graph, pde, **model_scale))
        rows_after.append(trajectory_scores(after, graph, pde, **model_scale))
        if i == 0:
            shown = (graph, before, after)

    # 5. files: the fine-tuned rollout of the first test run with its reference and residual
    graph, before, after = shown
    units = {"U": "m/s", "p": "m^2/s^2", "t": "s"}
    pictures = {}
    for name, fields in (("pretrained", before), ("finetuned", after)):
        result = meshfield.FieldResult(
            fields,
            list(model.field_names),
            graph.times,
            graph,
            residual=pde.mesh_residual(graph, fields).float(),
            residual_names=list(pde.components),
            reference=graph.fields.float(),
            units=units,
            cond=graph_conditions(graph),
        )
        pictures[name] = residual_map(
            result, field="U", path=args.out / f"residual_{name}.png"
        )
    result.save(args.out / "result.pvd")
    error_curves(
        {
            "pretrained": {
                "rel_l2": rows_before[0]["rel_l2_steps"],
                "R": rows_before[0]["R_steps"],
            },
            "fine-tuned": {
                "rel_l2": rows_after[0]["rel_l2_steps"],
                "R": rows_after[0]["R_steps"],
            },
        },
        args.out / "errors.png",
        title="cylinder_wake, first test run",
    )

    before_mean, after_mean = mean_scores(rows_before), mean_scores(rows_after)
    (args.out / "metrics.json").write_text(
        json.dumps({"pretrained": before_mean, "fine-tuned": after_mean}, indent=2)
        + "\n",
        encoding="utf-8",
    )
    print_table(before_mean, after_mean)
    print(
        f"wrote {args.out / 'result.pvd'}, {', '.join(str(p) for p in pictures.values())}"
    )
    print(f"done in {time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
