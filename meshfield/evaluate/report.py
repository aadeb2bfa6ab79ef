"""Evaluation: roll a model out over whole trajectories and report per-step errors.

:func:`evaluate` starts each trajectory from its first ``history`` frames, predicts every
remaining frame autoregressively and compares the prediction with the reference frame by
frame: relative L2 error, MSE and RMSE per field (in physical units and normalized by the
field's standard deviation), and for grid data (graphs with ``grid_shape``) SSIM and PSNR of
each field as an image. The report is JSON, written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from meshfield.metrics.trajectory import finite_mean, rollout_metrics
from meshfield.pretrained import resolve_checkpoint
from meshfield.train.validation import at_model_step, rollout_frames

__all__ = [
    "REPORT_FORMAT",
    "aligned_columns",
    "evaluate",
    "format_rollout_table",
    "format_table",
    "write_report",
]

#: value of ``report["format"]``
REPORT_FORMAT = "meshfield-evaluation"


# -------------------------------------------------------------------------------------------
# averages over runs


def _average_runs(
    runs: Sequence[Mapping[str, Any]],
) -> dict[str, dict[str, list[float | None]]]:
    """Per-step mean over runs (runs of different lengths: over those that reach a step)."""
    out: dict[str, dict[str, list[float | None]]] = {}
    for metric, fields in runs[0]["per_step"].items():
        out[metric] = {}
        for name in fields:
            series = [run["per_step"][metric][name] for run in runs]
            length = max(len(s) for s in series)
            out[metric][name] = [finite_mean([s[i] for s in series if i < len(s)]) for i in range(length)]
    return out


def _mean_physics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The mean of physics scores over runs (numbers only)."""
    keys = [k for k, v in rows[0].items() if isinstance(v, int | float)]
    return {k: sum(float(row[k]) for row in rows) / len(rows) for k in keys}


def _summary(
    per_step: Mapping[str, Mapping[str, Sequence[float | None]]],
) -> dict[str, Any]:
    return {
        metric: {name: finite_mean(values) for name, values in fields.items()}
        for metric, fields in per_step.items()
    }


# -------------------------------------------------------------------------------------------
# models and data


def _model_stats(model: Any) -> Tensor | None:
    normalizer = getattr(model, "normalizer", None)
    std = getattr(normalizer, "field_std", None)
    return std.detach().cpu() if isinstance(std, Tensor) else None


def _conditions(graph: Any) -> dict[str, float]:
    cond = graph.get("cond") if hasattr(graph, "get") else None
    if cond is None:
        return {}
    names = list(graph.get("cond_names") or [f"cond_{i}" for i in range(cond.numel())])
    return {name: float(v) for name, v in zip(names, cond.reshape(-1).tolist(), strict=False)}


def _data_spec(data: Any, checkpoint: Path | None) -> Mapping[str, Any] | None:
    """The data spec of a dataset folder (``spec.yaml``), else of the checkpoint."""
    if isinstance(data, str | os.PathLike) and (Path(data) / "spec.yaml").is_file():
        from meshfield.data import load_spec

        return load_spec(Path(data) / "spec.yaml").to_dict()
    if checkpoint is not None:
        from meshfield.checkpoint import CheckpointInfo

        return CheckpointInfo.read(checkpoint).data_spec
    return None


def _run_pde(option: Any, spec: Mapping[str, Any] | None, model: Any, cond: dict[str, float]) -> Any:
    """The PDE that scores one run: the one given, one by name, or the data spec's."""
    from meshfield.physics import PDE, pde_from_spec
    from meshfield.physics.registry import make_pde

    if option is None or option is False:
        return None
    if isinstance(option, PDE):
        return option
    if isinstance(option, str) and option != "auto":
        return make_pde(option)
    if spec is None:
        return None
    dim = int(getattr(getattr(model, "config", None), "dim", 2))
    return pde_from_spec(spec, cond, list(model.field_names), dim=dim)


def _physics_scores(
    frames: Tensor, graph: Any, pde: Any, model: Any, std: Tensor | None
) -> dict[str, float]:
    """MSE (normalized), R, R_ref and MSE-R of a rollout, interior nodes, mesh operators."""
    from meshfield.metrics import mse_r_on_mesh

    return mse_r_on_mesh(
        frames.to(torch.float64),
        graph.fields.to(torch.float64),
        pde,
        graph,
        times=graph.get("times"),
        cond=_conditions(graph),
        field_names=list(model.field_names),
        scale=std,
        interior_only=True,
    ).as_dict()


def _refiner_for(model: Any, checkpoint: Path | None, refine: bool | None) -> Any:
    """The refiner whose corrected rollouts are scored: ``model``'s own (a ``RefinedModel``),
    else the checkpoint's; ``None`` when there is none or ``refine`` is ``False``."""
    from meshfield.refine.refiner import REFINER_CONFIG, RefinedModel, load_refiner

    if refine is False:
        return None
    if isinstance(model, RefinedModel):
        return model.refiner
    if checkpoint is not None and (checkpoint / REFINER_CONFIG).is_file():
        return load_refiner(checkpoint, model)
    if refine:
        msg = (
            "refine=True but the model has no physics refiner (no refiner.json in its "
            "checkpoint); fine-tune one with meshfield finetune"
        )
        raise ValueError(msg)
    return None


def _scored(
    frames: Tensor, graph: Any, model: Any, std: Tensor | None, pde: Any
) -> dict[str, Any]:
    """Per-step metrics of a rollout, their means and (with a PDE) its physics scores."""
    history = int(model.history)
    per_step = rollout_metrics(
        frames[history:],
        graph.fields[history:].cpu(),
        field_names=list(model.field_names),
        field_std=std,
        grid_shape=graph.get("grid_shape"),
    )
    entry: dict[str, Any] = {"per_step": per_step, "mean": _summary(per_step)}
    if pde is not None:
        entry["physics"] = _physics_scores(frames, graph, pde, model, std)
    return entry


def _probe_settings(spec: Mapping[str, Any] | None, probe: Any) -> dict[str, Any]:
    """Probe position and St scales of a data spec: its case's ``PROBE``, ``D`` and ``U_inf``."""
    settings: dict[str, Any] = {"probe": probe, "diameter": 1.0, "velocity": 1.0}
    if spec is None:
        return settings
    constants = (spec.get("pde") or {}).get("constants") or {}
    settings["diameter"] = float(constants.get("D", 1.0))
    settings["velocity"] = float(constants.get("U_inf", 1.0))
    if probe is None:
        from meshfield.cases import get_case
        from meshfield.errors import SpecError

        try:
            module = get_case(str(spec.get("case")))
        except SpecError:
            module = None
        settings["probe"] = getattr(module, "PROBE", None)
    return settings


_GENERATED_KEYS = ("strouhal", "strouhal_ref", "amplitude_ratio")


def _rollout_scores(
    frames: Tensor, graph: Any, model: Any, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """:func:`meshfield.metrics.rollout.rollout_scores` of a rollout ``[T, N, C]`` (inputs first)."""
    from meshfield.metrics.rollout import rollout_scores

    history = int(model.history)
    times = graph.get("times")
    return rollout_scores(
        frames[history:],
        graph.fields[history:].cpu(),
        field_names=list(model.field_names),
        times=None if times is None else times.reshape(-1)[history:],
        pos=graph.pos.cpu(),
        **settings,
    )


def _baseline_scores(graph: Any, model: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Scores of the persistence and time-mean baselines of a reference trajectory."""
    from meshfield.metrics.rollout import baseline_predictions

    history = int(model.history)
    reference = graph.fields.cpu().float()
    out = {}
    for name, frames in baseline_predictions(reference[history:], reference[history - 1]).items():
        out[name] = _rollout_scores(torch.cat([reference[:history], frames]), graph, model, settings)
    return out


def _mean_tree(values: Sequence[Any]) -> Any:
    """The mean over runs of nested score dicts (``None`` where no run has a number)."""
    first = values[0]
    if isinstance(first, Mapping):
        return {k: _mean_tree([v[k] for v in values if isinstance(v, Mapping) and k in v])
                for k in first}
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return first if isinstance(first, str) else None
    return sum(numbers) / len(numbers)


def evaluate(
    model: Any,
    data: Any,
    *,
    split: str = "test",
    out: str | os.PathLike[str] | None = None,
    max_runs: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    pde: Any = "auto",
    refine: bool | None = None,
    probe: Sequence[float] | None = None,
    generate: bool = False,
) -> dict[str, Any]:
    """Roll a model out over every trajectory of a split and report per-step errors.

    Each trajectory starts from its first ``model.history`` frames and is predicted to its
    end (the full horizon); :func:`rollout_metrics` compares every predicted frame with the
    reference. A model of ``frame_step`` :math:`s` steps through every :math:`s`-th frame of
    each trajectory (:func:`meshfield.train.validation.at_model_step`): its steps, times,
    scores and baselines are those of these frames.

    Parameters
    ----------
    model : FieldModel or RefinedModel or str or Path
        A model, a model with its refiner (:class:`~meshfield.refine.RefinedModel`), a
        checkpoint folder, or a run folder (its ``best/``, else ``last/``). Any object with
        ``history``, ``field_names``, ``rollout(data, steps, initial=...)`` and optionally
        ``normalizer.field_std`` works.
    data : str or Path or MeshDataset or sequence of MeshGraph
        A dataset folder (``meshfield datagen --out``) or the trajectories themselves.
    split : str, default: "test"
        The split of a dataset folder.
    out : str or Path, optional
        Write the report there (JSON, atomically). default: do not write.
    max_runs : int, optional
        Only the first trajectories. default: all.
    device : str or torch.device, default: "cpu"
        Where the rollouts run.
    progress : bool, default: False
        Show a progress bar (tqdm).
    pde : "auto" or str or PDE or None, default: "auto"
        Also score each rollout against its governing equations: R (mean squared residual by
        the discrete mesh operators, physical units, interior nodes), R_ref (that of the
        reference trajectory on the same mesh) and MSE-R, with the normalized MSE
        (:func:`meshfield.metrics.mse_r_on_mesh`). ``"auto"``: the PDE the data spec names
        (the dataset folder's ``spec.yaml``, else the checkpoint's), set up per run with its
        conditions; a name of :func:`meshfield.physics.registry.make_pde` or a PDE; ``None``
        for no physics scores.
    refine : bool, optional
        Also score the rollouts corrected by the model's physics refiner (``meshfield
        finetune`` writes one into its checkpoint), next to the uncorrected ones. default:
        when the model has one.
    probe : sequence of float, optional
        Where the Strouhal number and fluctuation amplitude are measured (the nearest node).
        default: the case's ``PROBE`` (``meshfield.cases.cylinder_wake.PROBE``: 3.5 diameters
        behind the cylinder), else the node where the reference fluctuates most.
    generate : bool, default: False
        Also generate every run from its conditions alone (no initial frame) and report the
        Strouhal number and amplitude ratio of that rollout (its phase is arbitrary, so no
        field errors).

    Every run (and the mean) also gets ``scores``: the rel-L2 at steps 1, 10, 50 and over all
    steps, the velocity RMSE over 1, 50 and all steps, the Strouhal numbers of prediction and
    reference and their amplitude ratio (:func:`meshfield.metrics.rollout.rollout_scores`),
    and ``baselines``: the same for the persistence and time-mean predictions of the run.

    Returns
    -------
    dict
        The report: ``field_names``, ``steps``, ``times``, ``runs`` (per trajectory: its
        ``run_id``, ``conditions``, ``per_step`` metrics and their ``mean``, ``physics``
        scores with a PDE, and ``refined`` holding the same for the refined rollout),
        ``per_step`` (mean over the runs at each step), ``mean`` (over runs and steps),
        ``physics`` (mean physics scores) and ``refined`` (their refined counterparts).
        ``metrics`` lists the metric names.

    Example
    -------
    >>> report = evaluate("runs/cylinder_wake", "data/cylinder_wake")  # doctest: +SKIP
    >>> report["runs"][0]["physics"]["R"], report["runs"][0]["refined"]["physics"]["R"]  # doctest: +SKIP
    """
    from meshfield._progress import progress_bar

    source: dict[str, Any] = {}
    checkpoint: Path | None = None
    if isinstance(model, str | os.PathLike):
        from meshfield.checkpoint import load_model

        checkpoint = resolve_checkpoint(model)
        model = load_model(checkpoint, device=device)
        source["checkpoint"] = str(checkpoint)
    spec = _data_spec(data, checkpoint)
    settings = _probe_settings(spec, probe)
    if pde != "auto":
        spec_for_pde = None
    else:
        spec_for_pde = spec
    if isinstance(data, str | os.PathLike):
        from meshfield.data import load_dataset

        source["data"] = str(data)
        source["split"] = split
        data = load_dataset(data, split=split)
    count = len(data) if max_runs is None else min(max_runs, len(data))
    if count == 0:
        msg = "evaluate: no trajectories to evaluate"
        raise ValueError(msg)
    if hasattr(model, "eval"):
        model.eval()
    from meshfield.refine.refiner import RefinedModel

    refiner = _refiner_for(model, checkpoint, refine)
    refined = refiner is not None
    if isinstance(model, RefinedModel):
        model = model.model
    std = _model_stats(model)
    field_names = list(model.field_names)
    run_ids = list(getattr(data, "run_ids", []))
    runs: list[dict[str, Any]] = []
    times: list[float] = []
    for i in progress_bar(range(count), desc="evaluate", unit="run", enabled=progress):
        graph = data[i]
        names = list(graph.get("field_names") or field_names)
        if names != field_names:
            msg = f"trajectory {i} has fields {names}; the model predicts {field_names}"
            raise ValueError(msg)
        graph = at_model_step(graph, model)  # every frame_step-th frame: the model's own steps
        frames = rollout_frames(model, graph, device)
        finite = torch.isfinite(frames).flatten(1).all(dim=1)
        if not bool(finite.all()):
            from meshfield.errors import NonFiniteError

            msg = (
                f"evaluate: the rollout of trajectory {i} is not finite from step "
                f"{int((~finite).nonzero()[0])} on; nothing was written"
            )
            raise NonFiniteError(msg)
        graph = graph.cpu()
        run_pde = _run_pde(pde, spec_for_pde, model, _conditions(graph))
        run_id = run_ids[i] if i < len(run_ids) else str(graph.get("run_id") or i)
        entry = {
            "run_id": run_id,
            "conditions": _conditions(graph),
            "steps": int(frames.size(0)) - int(model.history),
            **_scored(frames, graph, model, std, run_pde),
            "scores": _rollout_scores(frames, graph, model, settings),
            "baselines": _baseline_scores(graph, model, settings),
        }
        if generate:
            steps = int(graph.fields.size(0)) - 1
            with torch.no_grad():
                generated = model.rollout(graph.to(device), steps, initial=None).cpu()
            padded = torch.cat([graph.fields[: int(model.history) - 1].cpu().float(), generated])
            full = _rollout_scores(padded, graph, model, settings)
            entry["generated"] = {k: full[k] for k in _GENERATED_KEYS}
        if refined:
            from meshfield.refine.refiner import apply_refiner

            corrected = apply_refiner(
                model, graph.to(device), frames.to(device), refiner=refiner
            ).cpu()
            entry["refined"] = _scored(corrected, graph, model, std, run_pde)
            entry["refined"]["scores"] = _rollout_scores(corrected, graph, model, settings)
        runs.append(entry)
        graph_times = graph.get("times")
        if graph_times is not None and len(graph_times.reshape(-1)) > len(times) + model.history:
            times = graph_times.reshape(-1)[model.history :].tolist()
    per_step = _average_runs(runs)
    extra: dict[str, Any] = {
        "scores": _mean_tree([run["scores"] for run in runs]),
        "baselines": _mean_tree([run["baselines"] for run in runs]),
    }
    if generate:
        extra["generated"] = _mean_tree([run["generated"] for run in runs])
    if all("physics" in run for run in runs):
        extra["physics"] = _mean_physics([run["physics"] for run in runs])
    if refined:
        refined_steps = _average_runs([run["refined"] for run in runs])
        extra["refined"] = {
            "per_step": refined_steps,
            "mean": _summary(refined_steps),
            "scores": _mean_tree([run["refined"]["scores"] for run in runs]),
        }
        if "physics" in extra:
            extra["refined"]["physics"] = _mean_physics([run["refined"]["physics"] for run in runs])
    report = {
        "format": REPORT_FORMAT,
        "version": 2,  # 2: per-step "mse"/"rmse" (physical) renamed "mse_physical"/"rmse_physical"
        **source,
        "model": getattr(model, "kind", type(model).__name__),
        "field_names": field_names,
        "cond_names": list(getattr(model, "cond_names", ())),
        "history": int(model.history),
        "frame_step": int(getattr(model, "frame_step", 1)),
        "steps": max(run["steps"] for run in runs),
        "times": times,
        "metrics": list(per_step),
        "runs": runs,
        "per_step": per_step,
        "mean": _summary(per_step),
        **extra,
    }
    if out is not None:
        write_report(report, out)
    return report


def write_report(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a report as JSON, atomically (a temporary file renamed over ``path``)."""
    from meshfield._files import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, json.dumps(report, indent=2, allow_nan=False) + "\n")


def aligned_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Text lines of a table: the header, a rule, then the rows, columns padded to fit."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)) for r in rows]
    return lines


def format_table(report: Mapping[str, Any]) -> str:
    """A short text table of a report: one row per run and their mean.

    Columns: the conditions, the mean relative L2 error over fields and steps, the RMSE of
    each field (physical units) and the relative L2 error of the last step; with physics
    scores also the normalized MSE, R, R/R_ref and MSE-R (never R without the MSE). A report
    with refined rollouts has a second row per run for them.
    """
    fields = list(report["field_names"])
    physics = "physics" in report
    refined = "refined" in report
    header = ["run", *(["model"] if refined else []), "rel_l2",
              *[f"rmse {name}" for name in fields], "rel_l2 last"]
    if physics:
        header += ["MSE", "R", "R/R_ref", "MSE-R"]

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    def row(label: str, kind: str | None, entry: Mapping[str, Any],
            scores: Mapping[str, Any] | None) -> list[str]:
        mean, per_step = entry["mean"], entry["per_step"]
        last = [v for v in per_step["rel_l2"]["all"] if v is not None]
        cells = [
            label,
            *([kind] if kind is not None else []),
            number(mean["rel_l2"]["all"]),
            *[number(mean["rmse_physical"][name]) for name in fields],
            number(last[-1] if last else None),
        ]
        if physics:
            cells += [number(scores[k]) if scores else "-" for k in ("mse", "R", "R_ratio", "mse_r")]
        return cells

    rows = []
    entries = [(", ".join(f"{k}={v:g}" for k, v in run["conditions"].items()) or run["run_id"], run)
               for run in report["runs"]]
    entries.append(("mean", report))
    for label, entry in entries:
        rows.append(row(label, "pretrained" if refined else None, entry, entry.get("physics")))
        if refined:
            again = entry["refined"]
            rows.append(row("", "refined", again, again.get("physics")))
    lines = aligned_columns(header, rows)
    if physics:
        lines.append(
            "MSE: of the fields normalized by the training std; R: mean squared PDE residual "
            "(physical units, interior nodes, mesh operators); R_ref: that of the reference; "
            "MSE-R = MSE + R/R_ref"
        )
    return "\n".join(lines)


def format_rollout_table(report: Mapping[str, Any]) -> str:
    """The rollout scores of a report beside those of the baselines, per run and mean.

    Columns: rel-L2 at steps 1, 10, 50 and over all steps, the velocity RMSE over 1, 50 and
    all steps, the Strouhal number of the prediction and of the reference at the probe, and
    their amplitude ratio. Rows: the model (and refined, and generated from the conditions
    alone when the report has them), then the persistence and time-mean baselines.
    """
    header = ["run", "prediction", "rel_l2@1", "@10", "@50", "mean", "rmse_u@1", "@50", "all",
              "St", "St_ref", "amp ratio"]

    def number(value: Any) -> str:
        return "-" if value is None else f"{value:.3g}"

    def cells(label: str, kind: str, scores: Mapping[str, Any]) -> list[str]:
        rel = scores.get("rel_l2") or {}
        rmse = scores.get("rmse_velocity") or {}
        return [label, kind, *(number(rel.get(k)) for k in ("1", "10", "50", "mean")),
                *(number(rmse.get(k)) for k in ("1", "50", "all")),
                number(scores.get("strouhal")), number(scores.get("strouhal_ref")),
                number(scores.get("amplitude_ratio"))]

    rows = []
    entries = [(", ".join(f"{k}={v:g}" for k, v in run["conditions"].items()) or run["run_id"], run)
               for run in report["runs"]]
    entries.append(("mean", report))
    for label, entry in entries:
        rows.append(cells(label, "model", entry["scores"]))
        if "refined" in entry and "scores" in entry["refined"]:
            rows.append(cells("", "refined", entry["refined"]["scores"]))
        if "generated" in entry:
            rows.append(cells("", "generated", entry["generated"]))
        for name, scores in entry["baselines"].items():
            rows.append(cells("", name.replace("_", " "), scores))
    lines = aligned_columns(header, rows)
    probe = report["runs"][0]["scores"].get("probe")
    where = f" at {tuple(round(x, 3) for x in probe)}" if probe else ""
    lines.append(
        f"rel_l2@k: relative L2 over all fields at step k; rmse_u@n: velocity RMSE over steps "
        f"1..n; St: Strouhal number of {report['runs'][0]['scores']['probe_field']}{where}; "
        "generated: from the conditions alone (no field errors: its phase is arbitrary)"
    )
    return "\n".join(lines)


def __getattr__(name: str) -> Any:
    # the command line moved to meshfield.cli.evaluate
    if name == "run_evaluate":
        import meshfield.cli.evaluate as moved
        from meshfield._moved import moved_name

        return moved_name(__name__, "run", moved)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
