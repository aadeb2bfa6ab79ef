"""Training windows per second of a training recipe, and its loss curve.

``meshfield bench train [--data data/cylinder_wake] [--steps 40] [--compile] [--out F.json]``
``[--recipe R.json] [--change NAME ...] [--init-from NAME|PATH|none]``

By default the in-time recipe of the ``cylinder_wake`` model shipped before the current one,
the reference of the README's windows-per-second figures (``configs/cylinder_wake_hmt_in_time.json``:
state warm-up over 8 frames, 2 unrolled steps with gradients, noise 0.01, batch 4), at its
full horizon, from the recipe's own initial weights (``--init-from`` a checkpoint of the same
model to start from it), on the training split of ``--data``. The first
``--warmup`` optimizer steps are off the clock (lazy initializations, compilation); then the
median step time, windows per second, and the loss of every step (the same seed gives the same
windows, so two runs of different code can be compared step by step: ``--out`` writes them).
Last the arithmetic floor (:mod:`meshfield.bench._floor`): the operations of the matrix products
and attention of the first, untimed step, divided by the rate of a ``[nodes, width] x [width,
4 width]`` product measured after the timed steps, and each step time against it.

``--change`` applies named changes of the recipe (those of ``meshfield bench accuracy``:
:data:`meshfield.bench.accuracy.RECIPE_CHANGES`) on top of ``--recipe``, so a change's cost
per window is measured on the recipe that its accuracy row is judged beside.

``--compile`` runs the model step under :func:`meshfield.runtime.compile_model` and prints the
eager figures measured in the same run beside it, with their ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from meshfield.bench._floor import count_flops, gemm_rate

__all__ = ["main"]

DEFAULT_RECIPE = (
    Path(__file__).resolve().parents[2] / "configs" / "cylinder_wake_hmt_in_time.json"
)


def _recipe(path: Path) -> dict[str, Any]:
    if not path.is_file():
        msg = f"{path}: no such recipe file (pass --recipe)"
        raise FileNotFoundError(msg)
    return json.loads(path.read_text())


def run_steps(
    data: Path,
    recipe: dict[str, Any],
    steps: int,
    warmup: int,
    *,
    compiled: bool,
    init_from: str | None,
) -> dict[str, Any]:
    """Time ``steps`` optimizer steps of the recipe after ``warmup`` untimed ones."""
    from meshfield.data import load_dataset
    from meshfield.train import TrainConfig, Trainer

    values = dict(recipe)
    values.pop("time_budget_s", None)
    values.update(
        init_from=init_from,
        horizon_ramp_epochs=0,
        epochs=1,
        steps_per_epoch=warmup + steps,
        progress=False,
    )
    if compiled:
        values["compile"] = True
    with tempfile.TemporaryDirectory() as tmp:
        values["out_dir"] = tmp
        config = TrainConfig.from_dict(values)
        trainer = Trainer(config, load_dataset(data, "train"))
        trainer.model.train()
        trainer.loss.horizon = config.horizon
        times: list[float] = []
        flops = gemm_rows = None
        losses: list[float] = []
        step_losses: list[float] = []
        for i, batch in enumerate(trainer._loader(0)):
            if i >= warmup + steps:
                break
            began = time.perf_counter()
            if i == 0 and warmup > 0 and not compiled:
                # the first step is off the clock: count its operations there
                values, flops = count_flops(partial(trainer.train_step, batch))
                gemm_rows = int(batch.num_nodes)
            else:
                values = trainer.train_step(batch)
            elapsed = time.perf_counter() - began
            losses.append(float(values[0]))
            step_losses.append(float(values[1]))
            if not math.isfinite(losses[-1]):
                msg = f"training diverged: non-finite loss {losses[-1]} at step {i + 1}"
                raise FloatingPointError(msg)
            if i >= warmup:
                times.append(elapsed)
    median = statistics.median(times)
    return {
        "compiled": compiled,
        "step_s": median,
        "windows_per_s": config.batch_size / median,
        "losses": losses,
        "step_losses": step_losses,
        "flops": flops,
        "gemm_shape": None if gemm_rows is None else [gemm_rows, int(trainer.model.width)],
    }


def _print_floor(rows: list[dict[str, Any]]) -> None:
    """The step's operations over the GEMM rate measured now, and each step against it."""
    flops = rows[0]["flops"]
    gemm_rows, width = rows[0]["gemm_shape"]
    rate = gemm_rate(gemm_rows, width)
    floor_s = flops / rate
    print(
        f"arithmetic floor: {flops / 1e9:.1f} GFLOP per step (matrix products and attention, "
        f"forward and backward) / {rate / 1e9:.0f} GFLOP/s (GEMM [{gemm_rows}, {width}] x "
        f"[{width}, {4 * width}], this run) = {floor_s * 1e3:.0f} ms"
    )
    for row in rows:
        label = "compiled" if row["compiled"] else "eager"
        print(f"  {label:8s}  step / floor = {row['step_s'] / floor_s:.1f}x")


def main(argv: list[str] | None = None) -> int:
    from meshfield.bench.accuracy import RECIPE_CHANGES, changed_recipe

    parser = argparse.ArgumentParser(
        prog="meshfield bench train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", type=Path, default=Path("data/cylinder_wake"))
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE)
    parser.add_argument(
        "--change",
        action="append",
        default=[],
        choices=list(RECIPE_CHANGES),
        help="a named change of the recipe (repeat for several)",
    )
    parser.add_argument("--steps", type=int, default=40, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--compile", action="store_true", help="also the compiled step")
    parser.add_argument(
        "--init-from",
        default="none",
        help="starting weights: a pretrained name or a checkpoint of the recipe's model, or "
        "'none' for the recipe's initial weights (default: none)",
    )
    parser.add_argument("--out", type=Path, help="write the figures and losses as JSON")
    args = parser.parse_args(argv)
    if not (args.data / "index.json").is_file():
        parser.error(
            f"{args.data}: no dataset (make it with: meshfield datagen "
            "data_specs/cylinder_wake.yaml --out data/cylinder_wake --jobs 2)"
        )
    recipe = _recipe(args.recipe)
    for change in args.change:
        recipe = changed_recipe(recipe, change)
    init_from = None if args.init_from == "none" else args.init_from
    if init_from is not None and not Path(init_from).exists():
        from meshfield.pretrained import pretrained_path

        init_from = str(pretrained_path(init_from))
    rows = [
        run_steps(
            args.data, recipe, args.steps, args.warmup, compiled=c, init_from=init_from
        )
        for c in ([False, True] if args.compile else [False])
    ]
    print(
        f"recipe {'+'.join([args.recipe.name, *args.change])}: "
        f"batch {recipe.get('batch_size', 4)}, "
        f"state warm-up {recipe.get('state_warmup')}, unroll {recipe.get('pushforward_steps')}, "
        f"{args.steps} timed steps after {args.warmup}"
    )
    from meshfield.nn.ssm import cpu_scan

    print(f"  {cpu_scan.describe()}")
    for row in rows:
        label = "compiled" if row["compiled"] else "eager"
        print(
            f"  {label:8s}  step {row['step_s'] * 1e3:8.1f} ms   "
            f"{row['windows_per_s']:6.2f} windows/s   "
            f"mean loss {statistics.fmean(row['losses']):.4e}   "
            f"mean step loss {statistics.fmean(row['step_losses']):.4e}"
        )
    if len(rows) == 2:
        print(
            f"  compiled / eager windows per second: {rows[1]['windows_per_s'] / rows[0]['windows_per_s']:.2f}x"
        )
    if rows[0]["flops"] is not None:
        _print_floor(rows)
    else:
        print("  arithmetic floor: not counted (it is counted on the first --warmup step)")
    if args.out is not None:
        from meshfield._files import write_atomic

        write_atomic(args.out, json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
