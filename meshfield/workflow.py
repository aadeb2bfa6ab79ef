"""The whole path of a case in one call: data, training, physics fine-tuning, scores, pictures.

:func:`run_workflow` is what every case example (``examples/*.py``) does between parsing its
options and printing its table:

1. make the reference data from a spec (resumed run by run), or reuse a dataset folder;
2. train a model (resumed when its run folder exists) and keep the best checkpoint;
3. fine-tune it self-supervised with a PDE and boundary values (a physics refiner, ending in
   a residual projection onto the PDE);
4. roll it out on the test runs from their first frames, refine, and score both
   (:func:`meshfield.metrics.trajectory_scores`: MSE, rel-L2, R, R_ref, MSE-R);
5. write the refined rollout of the first test run (``result.pvd``), residual maps before and
   after (``residual_pretrained.png``, ``residual_finetuned.png``), error curves
   (``errors.png``) and the mean scores (``metrics.json``), and print the table.

Like the ``meshfield`` command, it calls :func:`meshfield.runtime.tune_malloc` first.

>>> from meshfield.workflow import example_arguments, run_workflow  # doctest: +SKIP
>>> args = example_arguments("heat on a plate", "heat_plate")         # doctest: +SKIP
>>> run_workflow(name="heat_plate", spec=spec, train_config=config, pde=Heat(),
...              boundary=bcs, out=args.out, quick=args.quick, units={"T": "K"},
...              field="T", reference="the FEM solution")              # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from meshfield._files import write_atomic

__all__ = [
    "WorkflowResult",
    "example_arguments",
    "finetune_settings",
    "run_workflow",
    "train_settings",
]


def example_arguments(description: str, name: str) -> argparse.Namespace:
    """The options every case example takes: ``--quick``, ``--out`` and ``--data``.

    Parameters
    ----------
    description : str
        The ``--help`` text.
    name : str
        The case; ``--out`` defaults to ``runs/examples/<name>``.

    Returns
    -------
    argparse.Namespace
        ``quick``, ``out`` (created) and ``data``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small settings (about 2 minutes)")
    parser.add_argument("--out", type=Path, default=Path("runs/examples") / name)
    parser.add_argument("--data", type=Path, default=None, help="an existing dataset folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


#: weight of the residual projection that ends the examples' refinement
#: (:func:`meshfield.physics.projection.project_residual`)
PROJECTION_WEIGHT = 3.0


def finetune_settings(quick: bool) -> Any:
    """The fine-tuning settings of the examples: tiny with ``quick``, else 600 steps.

    The learned correction is followed by a residual projection (weight
    :data:`PROJECTION_WEIGHT`).
    """
    from meshfield.refine.finetune import FinetuneConfig

    return FinetuneConfig(
        steps=30 if quick else 600,
        calibration_steps=10 if quick else 100,
        domain_points=96 if quick else 256,
        hidden=16 if quick else 32,
        lr=3e-3 if quick else 1e-3,
        projection=PROJECTION_WEIGHT,
    )


def train_settings(quick: bool, out_dir: Path, *, quick_steps_per_epoch: int | None = 6) -> Any:
    """The HMT and optimizer settings of the examples.

    Parameters
    ----------
    quick : bool
        A tiny model (width 32, one Mamba and one attention block) and 3 epochs; otherwise
        width 64, ``"MAMA"``, 20 epochs of 60 steps with early stopping.
    out_dir : Path
        The training run folder.
    quick_steps_per_epoch : int, optional
        Steps per epoch with ``quick`` (``None``: every window once). default: 6.

    Returns
    -------
    TrainConfig
    """
    from meshfield.train import TrainConfig

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
            steps_per_epoch=quick_steps_per_epoch,
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


@dataclass
class WorkflowResult:
    """What :func:`run_workflow` made.

    Attributes
    ----------
    model : FieldModel
        The trained model with its refiner attached.
    test_set : MeshDataset
        The test runs.
    graph : MeshGraph
        The first test run.
    before, after : Tensor
        Its pretrained and refined rollouts ``[T, N, C]``.
    scores : dict
        ``{"pretrained": ..., "fine-tuned": ...}``: the mean scores over the test runs.
    """

    model: Any
    test_set: Any
    graph: Any
    before: Tensor
    after: Tensor
    scores: dict[str, dict[str, float]]


def run_workflow(
    *,
    name: str,
    spec: Any,
    train_config: Any,
    pde: Any,
    out: Path,
    quick: bool,
    units: Mapping[str, str],
    field: str,
    reference: str,
    boundary: Sequence[Any] = (),
    data: Path | None = None,
) -> WorkflowResult:
    """Data, training, fine-tuning, scores and pictures of one case (module docstring).

    Parameters
    ----------
    name : str
        The case, for titles.
    spec : DataSpec
        How to make the data (unused when ``data`` is given).
    train_config : TrainConfig
        The training run; its ``out_dir`` is resumed when it holds ``last/``.
    pde : PDE
        The equations of the fine-tuning and of R.
    out : Path
        The output folder (data, run, refined checkpoint, files).
    quick : bool
        Fine-tune on two runs with tiny settings (:func:`finetune_settings`).
    units : mapping
        Units of the fields (and ``"t"``) for the pictures.
    field : str
        The field (or vector group) of the residual maps.
    reference : str
        What the reference data is, for the table's note (e.g. "the OpenFOAM solution").
    boundary : sequence of BoundaryValue, optional
        Dirichlet values held during fine-tuning. default: none.
    data : Path, optional
        An existing dataset folder instead of generating one.

    Returns
    -------
    WorkflowResult
    """
    import meshfield
    from meshfield.cases.datagen import datagen
    from meshfield.data import load_dataset
    from meshfield.metrics import (
        format_scores_table,
        graph_conditions,
        mean_scores,
        trajectory_scores,
    )
    from meshfield.refine.finetune import finetune
    from meshfield.refine.refiner import apply_refiner
    from meshfield.runtime import tune_malloc
    from meshfield.train import train
    from meshfield.train.validation import at_model_step
    from meshfield.viz import error_curves, residual_map

    tune_malloc()  # the example's process: large activations reuse heap memory
    torch.manual_seed(0)
    clock = time.perf_counter()
    out = Path(out)

    # 1. reference data (resumed run by run when interrupted)
    data_dir = data if data is not None else datagen(spec, out / "data", jobs=1, progress=True)
    train_set = load_dataset(data_dir, "train")
    test_set = load_dataset(data_dir, "test")

    # 2. training; the best checkpoint (lowest validation rollout error) is kept
    run_dir = Path(train_config.out_dir)
    run = train(train_config, data_dir, resume=(run_dir / "last").is_dir())
    model = meshfield.load_model(run.best)

    # 3. physics fine-tuning, self-supervised (no reference frames)
    refined = finetune(
        model,
        train_set,
        pde,
        config=finetune_settings(quick),
        boundary=list(boundary),
        out=out / "finetuned",
        max_runs=2 if quick else None,
    ).refined

    # 4. the test runs: rollout from the first frames, then refined; the model's field scale
    #    normalizes the MSE and its given frames are not scored
    scale = {
        "scale": model.normalizer.field_std,
        "field_names": list(model.field_names),
        "history": model.history,
    }
    rows_before, rows_after = [], []
    for i in range(len(test_set)):
        graph = at_model_step(test_set[i], model)  # the frames the model steps through
        initial = graph.fields[: model.history].float()
        with torch.no_grad():
            before = model.rollout(graph, graph.fields.size(0) - model.history, initial=initial)
        after = apply_refiner(refined, graph, before)
        rows_before.append(trajectory_scores(before, graph, pde, **scale))
        rows_after.append(trajectory_scores(after, graph, pde, **scale))
        if i == 0:
            shown = (graph, before, after)

    # 5. files: the first test run's rollouts with their reference and residual
    graph, before, after = shown
    pictures = []
    for label, fields in (("pretrained", before), ("finetuned", after)):
        result = meshfield.FieldResult(
            fields,
            list(model.field_names),
            graph.times,
            graph,
            residual=pde.mesh_residual(graph, fields).float(),
            residual_names=list(pde.components),
            reference=graph.fields.float(),
            units=dict(units),
            cond=graph_conditions(graph),
        )
        pictures.append(residual_map(result, field=field, path=out / f"residual_{label}.png"))
    result.save(out / "result.pvd")
    error_curves(
        {
            label: {"rel_l2": rows[0]["rel_l2_steps"], "R": rows[0]["R_steps"]}
            for label, rows in (("pretrained", rows_before), ("fine-tuned", rows_after))
        },
        out / "errors.png",
        title=f"{name}, first test run",
    )
    scores = {"pretrained": mean_scores(rows_before), "fine-tuned": mean_scores(rows_after)}
    write_atomic(out / "metrics.json", json.dumps(scores, indent=2) + "\n")

    print()
    print(format_scores_table(scores))
    print(
        f"(test runs; MSE of normalized fields, R: mean squared {type(pde).__name__} residual "
        f"in physical units on interior nodes, R_ref = {scores['pretrained']['R_ref']:.4g} of "
        f"{reference} on the same mesh; MSE-R = MSE + R/R_ref)"
    )
    print(f"wrote {out / 'result.pvd'}, {', '.join(str(p) for p in pictures)}")
    print(f"done in {time.perf_counter() - clock:.0f} s")
    return WorkflowResult(model, test_set, graph, before, after, scores)
