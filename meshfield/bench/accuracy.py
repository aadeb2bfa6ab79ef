"""``meshfield bench accuracy``: models trained for the same wall-clock budget, judged by rollouts.

The data is by default a coarse cylinder wake (``data_specs/cylinder_wake_coarse.yaml``: about
1.7k nodes, 8 training Reynolds numbers, 3 test ones), generated once with OpenFOAM and cached
in ``--data``; ``--spec data_specs/cylinder_wake.yaml`` runs the same comparison at the shipped
model's size. Every model gets the same training recipe (``--recipe``, TrainConfig fields as
JSON) and the same budget of seconds of optimizer steps (``time_budget_s``), then rolls out
every test run from its first OpenFOAM frame and is scored by
:func:`meshfield.evaluate.evaluate`: rel-L2 at steps 1, 10, 50 and over the horizon,
the velocity RMSE, the Strouhal number at the case's probe against OpenFOAM's and the
fluctuation amplitude ratio. The persistence and time-mean baselines of the same runs are
printed beside the models.

``--changes`` trains ``--models`` once more per named change of the recipe
(:data:`RECIPE_CHANGES`: the sequence training, the unroll horizon, the noise, the width, the
history, the temporal latent), each as a row ``model+change`` beside the rows of the plain
recipe, so one run shows what each part of the recipe buys at the same budget.

Each model's run folder and report stay in ``--out``; a rerun skips models whose report is
there (``--fresh`` retrains them), and a killed training resumes from its last epoch.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_MODELS", "DEFAULT_RECIPE", "RECIPE_CHANGES", "main", "read_recipe", "run_model"]

#: the rows of the benchmark
DEFAULT_MODELS = ("hmt", "meshgraphnet", "transformer", "hmt-no-mamba", "hmt-no-attention")

#: the training recipe every model gets (TrainConfig fields; the model name and run folder
#: are set per row): the in-time recipe of the model shipped before the current one
DEFAULT_RECIPE: dict[str, Any] = {
    "width": 64,
    "history": 1,
    "epochs": 1000,
    "batch_size": 4,
    "steps_per_epoch": 40,
    "lr": 1e-3,
    "warmup_steps": 20,
    "schedule": "constant",
    "grad_clip": 1.0,
    "noise_std": 0.01,
    "pushforward_steps": 2,
    "pushforward_grad": True,
    "horizon_ramp_epochs": 2,
    "state_warmup": 8,
    "val_runs": 1,
    "seed": 0,
}

#: one change of :data:`DEFAULT_RECIPE` per row of ``--changes`` (TrainConfig fields set on
#: top of the recipe; ``model_options`` merged into the model's)
RECIPE_CHANGES: dict[str, dict[str, Any]] = {
    # every window starts from a fresh temporal state instead of one warmed up on the frames
    # before it
    "no-state-warmup": {"state_warmup": 0},
    # the state carried from each window to the next of its trajectory instead of warmed up
    "state-carry": {"state_carry": True},
    # a one-step loss instead of 2 more steps unrolled on the model's own predictions
    "one-step": {"pushforward_steps": 0, "horizon_ramp_epochs": 0},
    # 4 more steps unrolled instead of 2 (a horizon of 5)
    "horizon-5": {"pushforward_steps": 4},
    # the unrolled steps' inputs detached: each step's loss trains that step alone, with no
    # gradient back through the model's own predictions and state
    "no-unroll-grad": {"pushforward_grad": False},
    # the pushforward trick: the unrolled steps before the last made without gradients, only
    # the last one trained (one backward pass per window)
    "pushforward": {"pushforward_grad": False, "unroll_loss": "last"},
    # no input noise
    "no-noise": {"noise_std": 0.0},
    # half and 1.5 times the width
    "width-32": {"width": 32},
    "width-96": {"width": 96},
    # two input frames instead of one
    "history-2": {"history": 2},
    # no temporal latent (the model carries no state from step to step)
    "no-temporal-latent": {"model_options": {"d_latent": 0}},
    # global linear attention over all nodes in the attention blocks instead of patches
    "linear-attention": {"model_options": {"backbone": {"attention": "linear"}}},
    # the rate decays along a half cosine to 0 over the time budget instead of staying at lr
    "cosine": {"schedule": "cosine"},
    # Mamba blocks of half the inner width (expand 1 instead of 2): about half the cost of
    # each scan, projection and convolution
    "mamba-expand-1": {"model_options": {"backbone": {"mamba": {"expand": 1}}}},
}


def read_recipe(value: str) -> dict[str, Any]:
    """TrainConfig fields from ``value``: a JSON object inline, or the path of a JSON file."""
    inline = value.lstrip().startswith("{")
    try:
        given = json.loads(value if inline else Path(value).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(str(err)) from None
    if not isinstance(given, dict):
        msg = f"expected a JSON object of TrainConfig fields (got {given!r})"
        raise ValueError(msg)
    return given


def changed_recipe(recipe: dict[str, Any], change: str) -> dict[str, Any]:
    """``recipe`` with the named :data:`RECIPE_CHANGES` entry applied."""
    if change not in RECIPE_CHANGES:
        msg = f"unknown recipe change {change!r} (expected one of {list(RECIPE_CHANGES)})"
        raise ValueError(msg)
    result = dict(recipe)
    for key, value in RECIPE_CHANGES[change].items():
        if key == "model_options":
            value = _merged(recipe.get("model_options") or {}, value)
        result[key] = value
    return result


def _merged(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` laid over it, nested mappings merged key by key."""
    result = dict(base)
    for key, value in update.items():
        old = result.get(key)
        both = isinstance(old, Mapping) and isinstance(value, Mapping)
        result[key] = _merged(old, value) if both else value
    return result


def run_model(
    name: str,
    data: Path,
    out: Path,
    recipe: dict[str, Any],
    budget_s: float,
    *,
    fresh: bool = False,
    progress: bool = False,
    label: str | None = None,
) -> dict[str, Any]:
    """Train one model for ``budget_s`` seconds of steps and evaluate it on the test split.

    Returns the evaluation report (cached as ``out/label/report.json``; ``label`` defaults
    to the model's name) with ``bench``: the optimizer steps, windows per second and
    training seconds.
    """
    from meshfield.evaluate import evaluate, write_report
    from meshfield.train import TrainConfig, train

    folder = out / (label or name)
    report_path = folder / "report.json"
    config = TrainConfig.from_dict(
        {
            **recipe,
            "model": name,
            "time_budget_s": float(budget_s),
            "out_dir": str(folder),
            "progress": progress,
        }
    )
    saved_path = folder / "train.json"
    if saved_path.is_file() and not fresh:
        saved = TrainConfig.from_dict(json.loads(saved_path.read_text(encoding="utf-8")))
        saved = saved.replace(out_dir=config.out_dir, progress=config.progress)
        if saved != config:
            old, new = saved.to_dict(), config.to_dict()
            changed = ", ".join(key for key in new if old.get(key) != new[key])
            msg = (
                f"{folder} holds the row {label or name!r} trained with another {changed} "
                "than asked; pass --fresh to retrain it, or another --out"
            )
            raise ValueError(msg)
    if report_path.is_file() and not fresh:
        return json.loads(report_path.read_text(encoding="utf-8"))
    resume = (folder / "last").is_dir() and not fresh
    result = train(config, data, resume=resume)
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line]
    steps = log[-1]["step"] if log else 0
    seconds = log[-1].get("train_time_s", 0.0) if log else 0.0
    report = evaluate(folder / "last", data, split="test", progress=progress, pde=None)
    report["bench"] = {
        "model": name,
        "label": label or name,
        "steps": steps,
        "epochs": result.epoch,
        "train_time_s": seconds,
        "windows_per_s": steps * config.batch_size / seconds if seconds > 0 else None,
        "budget_s": float(budget_s),
    }
    write_report(report, report_path)
    return report


def _row(label: str, steps: Any, speed: Any, scores: dict[str, Any]) -> list[str]:
    def number(value: Any, digits: str = ".3g") -> str:
        return "-" if value is None else format(value, digits)

    rel = scores["rel_l2"]
    st, st_ref = scores.get("strouhal"), scores.get("strouhal_ref")
    error = None if st is None or not st_ref else 100 * (st - st_ref) / st_ref
    return [
        label,
        str(steps),
        number(speed),
        *(number(rel.get(k)) for k in ("1", "10", "50", "mean")),
        number(scores["rmse_velocity"].get("all")),
        number(st),
        number(st_ref),
        "-" if error is None else f"{error:+.0f} %",
        number(scores.get("amplitude_ratio")),
    ]


def format_bench(reports: dict[str, dict[str, Any]]) -> str:
    """The benchmark table: one row per model, then the baselines of the same runs."""
    header = ["model", "steps", "windows/s", "rel_l2@1", "@10", "@50", "mean", "rmse_u",
              "St", "St_ref", "St err", "amp ratio"]
    rows = []
    for name, report in reports.items():
        bench = report["bench"]
        rows.append(_row(name, bench["steps"], bench["windows_per_s"], report["scores"]))
    first = next(iter(reports.values()))
    for name, scores in first["baselines"].items():
        rows.append(_row(name.replace("_", " "), "-", None, scores))
    from meshfield.evaluate import aligned_columns

    return "\n".join(aligned_columns(header, rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="meshfield bench accuracy",
        description="Train models for the same wall-clock budget on a cylinder wake (by "
        "default a coarse one) and compare their rollouts with OpenFOAM and the trivial "
        "baselines.",
    )
    parser.add_argument("--spec", default="data_specs/cylinder_wake_coarse.yaml",
                        help="data spec (default: data_specs/cylinder_wake_coarse.yaml)")
    parser.add_argument("--data", default=None,
                        help="dataset folder, generated from --spec when missing "
                        "(default: data/<spec name>)")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help=f"comma-separated model names (default: {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--budget-s", type=float, default=1200.0,
                        help="seconds of training steps per model (default: 1200)")
    parser.add_argument("--recipe", default=None,
                        help="TrainConfig fields for every model: a JSON file, or a JSON "
                        "object inline (default: the in-time recipe of the model shipped before)")
    parser.add_argument("--changes", default="",
                        help="comma-separated recipe changes, each trained as one more row "
                        f"per model ({', '.join(RECIPE_CHANGES)}, or all)")
    parser.add_argument("--out", default="runs/bench_accuracy",
                        help="run folders and reports (default: runs/bench_accuracy)")
    parser.add_argument("--jobs", type=int, default=2, help="simulations at once (default: 2)")
    parser.add_argument("--fresh", action="store_true", help="retrain models with a report")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    args = parser.parse_args(argv)
    if not (args.budget_s > 0 and math.isfinite(args.budget_s)):
        parser.error(f"--budget-s must be a positive number (got {args.budget_s})")
    from meshfield.models.registry import MODEL_NAMES
    from meshfield.train.loop import prepare_data

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown or not models:
        parser.error(f"--models: unknown {unknown} (expected some of {list(MODEL_NAMES)})")
    changes = [c.strip() for c in args.changes.split(",") if c.strip()]
    if changes == ["all"]:
        changes = list(RECIPE_CHANGES)
    unknown = [c for c in changes if c not in RECIPE_CHANGES]
    if unknown:
        parser.error(f"--changes: unknown {unknown} (expected some of {list(RECIPE_CHANGES)}"
                     " or all)")
    recipe = dict(DEFAULT_RECIPE)
    if args.recipe:
        try:
            recipe.update(read_recipe(args.recipe))
        except ValueError as err:
            parser.error(f"--recipe: {err}")
    rows = [(name, None) for name in models]
    rows += [(name, change) for name in models for change in changes]
    row_recipes = [recipe if change is None else changed_recipe(recipe, change)
                   for _, change in rows]
    # a wrong field stops here, before any data is generated or any row trained
    from meshfield.train import TrainConfig

    for (name, _), row_recipe in zip(rows, row_recipes):
        try:
            TrainConfig.from_dict({**row_recipe, "model": name})
        except ValueError as err:
            parser.error(f"--recipe: {err}")
    data = prepare_data(args.spec, args.data, jobs=args.jobs, progress=args.progress)
    out = Path(args.out)
    print(f"meshfield bench accuracy: {data}, {args.budget_s:g} s of training per model")
    print("recipe: " + json.dumps(recipe, sort_keys=True))
    reports = {}
    for (name, change), row_recipe in zip(rows, row_recipes):
        label = name if change is None else f"{name}+{change}"
        reports[label] = run_model(name, data, out, row_recipe, args.budget_s, label=label,
                                   fresh=args.fresh, progress=args.progress)
        print(f"  {label}: {reports[label]['bench']['steps']} steps, mean rel-L2 "
              f"{reports[label]['scores']['rel_l2']['mean']:.3g}", flush=True)
    print(format_bench(reports))
    print("rel_l2@k at step k over all fields; rmse_u: velocity RMSE over all steps; St at the "
          "case's probe from the rollout and from OpenFOAM; test split, rollouts from the first "
          "OpenFOAM frame")
    return 0
