"""Run every simulation of a data spec: ``meshfield datagen SPEC --out DIR --jobs N``.

Each finished run is written atomically to ``DIR/<split>/<run_id>.safetensors``; a re-run skips
the runs whose file exists, so a killed generation resumes without losing finished work. Runs
go to a pool of worker processes with ``--jobs N`` (one serial solver per core is faster than
a decomposed parallel one for meshes of this size). Each run gets its own scratch folder under
``DIR/.work/``, removed when the run succeeds and kept for inspection when it fails.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import re
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshfield._files import write_atomic
from meshfield.errors import MeshfieldError, MeshValidationError, SpecError

__all__ = ["DatagenError", "datagen", "finish_graph", "run_path"]

_WORK = ".work"
_CHANNEL = re.compile(r"^(?P<base>.+)_(x|y|z|\d+)$")


class DatagenError(MeshfieldError, RuntimeError):
    """Some runs of a data generation failed; the message lists each run and its error."""


@dataclass(frozen=True)
class _Outcome:
    key: str
    seconds: float
    error: str | None = None
    details: str | None = None

    @classmethod
    def failed(cls, key: str, start: float, exc: BaseException, where: str = "") -> _Outcome:
        """A run that raised ``exc`` (inside its ``except`` block: the traceback is kept)."""
        error = f"{where}{type(exc).__name__}: {exc}"
        return cls(key, time.perf_counter() - start, error=error, details=traceback.format_exc())


def run_path(out_dir: str | os.PathLike[str], split: str, run_id: str) -> Path:
    """The file of one run: ``out_dir/<split>/<run_id>.safetensors``."""
    return Path(out_dir) / split / f"{run_id}.safetensors"


def _field_of(channel: str, fields: Sequence[str]) -> str | None:
    if channel in fields:
        return channel
    match = _CHANNEL.match(channel)
    if match and match.group("base") in fields:
        return match.group("base")
    return None


def finish_graph(
    graph: Any, spec: Any, split: str, run_id: str, conditions: dict[str, float]
) -> Any:
    """Check a case's result against its spec and complete it for storage.

    Checks that ``fields`` ``[T, N, C]``, ``field_names`` and ``times`` are there and that the
    channels are those of ``spec.fields``; sets ``cond`` / ``cond_names`` from the conditions
    when the case did not; casts ``fields`` to ``spec.output.dtype``; records ``run_id`` and
    ``split``; and runs :func:`meshfield.data.validate` (its warnings become Python warnings).

    Parameters
    ----------
    graph : MeshGraph
        What the case's ``simulate`` returned.
    spec : DataSpec
        The spec of the run.
    split, run_id : str
        Where the run belongs.
    conditions : dict
        The condition values of the run.

    Returns
    -------
    MeshGraph
        The same graph, completed.

    Raises
    ------
    MeshValidationError
        When the result does not match the spec.
    """
    import torch

    from meshfield.data import validate

    where = f"{split}/{run_id}"
    for key in ("fields", "field_names", "times"):
        if graph.get(key) is None:
            msg = f"{where}: the case returned no {key!r}; simulate must set fields, field_names and times"
            raise MeshValidationError(msg)
    names = list(graph.field_names)
    unknown = [n for n in names if _field_of(n, list(spec.fields)) is None]
    covered = {_field_of(n, list(spec.fields)) for n in names}
    missing = [f for f in spec.fields if f not in covered]
    if unknown or missing:
        msg = (
            f"{where}: field_names {names} do not match the spec's fields {list(spec.fields)} "
            f"(unknown channels {unknown}, fields without channels {missing})"
        )
        raise MeshValidationError(msg)
    order = spec.condition_names
    if graph.get("cond") is None:
        graph.cond = torch.tensor([conditions[n] for n in order], dtype=torch.float32)
        graph.cond_names = list(order)
    elif list(graph.get("cond_names") or []) != order:
        msg = f"{where}: cond_names {graph.get('cond_names')} differ from the spec's {order}"
        raise MeshValidationError(msg)
    graph.fields = graph.fields.to(getattr(torch, spec.output.dtype))
    graph.run_id = run_id
    graph.split = split
    for warning in validate(graph, source=where):
        warnings.warn(warning, stacklevel=2)
    return graph


def _simulate_run(
    spec: Any, module_name: str, split: str, run_id: str, conditions: dict[str, float], out: str
) -> _Outcome:
    """One run, in this process: simulate, check, write atomically, clean up."""
    from meshfield.data.store import save_graph

    key = f"{split}/{run_id}"
    workdir = Path(out) / _WORK / split / run_id
    start = time.perf_counter()
    try:
        if workdir.exists():
            shutil.rmtree(workdir)  # left over from an interrupted attempt
        workdir.mkdir(parents=True)
        module = importlib.import_module(module_name)
        graph = module.simulate(spec, dict(conditions), workdir)
        graph = finish_graph(graph, spec, split, run_id, conditions)
        save_graph(graph, run_path(out, split, run_id))
    except Exception as exc:  # noqa: BLE001 - one failed run must not stop the others
        return _Outcome.failed(key, start, exc)
    shutil.rmtree(workdir, ignore_errors=True)
    return _Outcome(key, time.perf_counter() - start)


def _number_pattern(name: str) -> re.Pattern[str]:
    # "Re=150", "Re150", "Re_150", "cyl-Re-1.5e2": the name, then its value
    return re.compile(
        rf"(?<![A-Za-z0-9]){re.escape(name)}[=_-]?(?P<value>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    )


def conditions_from_name(name: str, condition_names: Sequence[str]) -> dict[str, float] | None:
    """The condition values a case folder's name spells (``Re=150``, ``Re150``, ``Re_150``),
    or ``None`` when one of the conditions is not in it.

    Example
    -------
    >>> conditions_from_name("cylinder_Re=150_aoa-2.5", ["Re", "aoa"])
    {'Re': 150.0, 'aoa': 2.5}
    """
    values = {}
    for cond in condition_names:
        match = _number_pattern(cond).search(name)
        if match is None:
            return None
        values[cond] = float(match.group("value"))
    return values


def match_runs(spec: Any, runs: Sequence[Any], source: Path) -> dict[str, Path]:
    """The case folder of every run of ``runs``, by the conditions its folder's name spells.

    Raises
    ------
    SpecError
        ``source`` is not a folder, or a run has no case folder or two.
    """
    if not source.is_dir():
        msg = f"--from-runs {source}: no such folder"
        raise SpecError(msg)
    names = spec.condition_names
    cases = {}
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        values = conditions_from_name(folder.name, names)
        if values is not None:
            cases[folder] = values
    found: dict[str, Path] = {}
    for run in runs:
        hits = [
            folder
            for folder, values in cases.items()
            if all(math.isclose(values[n], run.conditions[n], rel_tol=1e-9) for n in names)
        ]
        if len(hits) != 1:
            have = ", ".join(f.name for f in cases) or "none"
            what = "no case folder" if not hits else f"{len(hits)} case folders ({hits[0].name}, ...)"
            msg = (
                f"--from-runs {source}: {what} for run {run.split}/{run.run_id} "
                f"({run.conditions}); folders whose names give {names}: {have}"
            )
            raise SpecError(msg)
        found[run.key] = hits[0]
    return found


def _read_run(
    spec: Any, module_name: str, split: str, run_id: str, conditions: dict[str, float],
    out: str, case: Path,
) -> _Outcome:
    """One finished run made outside meshfield: read, check, write atomically."""
    from meshfield.data.store import save_graph

    key = f"{split}/{run_id}"
    start = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        graph = module.read_run(spec, dict(conditions), case)
        graph = finish_graph(graph, spec, split, run_id, conditions)
        save_graph(graph, run_path(out, split, run_id))
    except Exception as exc:  # noqa: BLE001 - one bad run must not stop the others
        return _Outcome.failed(key, start, exc, where=f"{case}: ")
    return _Outcome(key, time.perf_counter() - start)


def _init_worker() -> None:
    import torch

    # one run per core: threads inside a run would only compete with the other workers
    torch.set_num_threads(1)


def _same_spec(a: Any, b: Any) -> bool:
    # the description is prose; everything else changes what the runs contain
    return dataclasses.replace(a, description="") == dataclasses.replace(b, description="")


def _prepare_folder(out: Path, spec: Any) -> None:
    from meshfield.data.spec import load_spec

    out.mkdir(parents=True, exist_ok=True)
    existing = out / "spec.yaml"
    if existing.is_file():
        try:
            before = load_spec(existing)
        except SpecError as exc:
            msg = f"{out}: holds a spec.yaml that no longer loads ({exc}); use another --out"
            raise SpecError(msg) from exc
        if not _same_spec(before, spec):
            msg = (
                f"{out}: holds runs made from a different spec ({existing}); resuming would mix "
                "two datasets. Use another --out, or delete the folder to start over"
            )
            raise SpecError(msg)
    write_atomic(existing, spec.to_yaml())


def _units_of(names: Sequence[str], spec: Any) -> list[str]:
    return [spec.fields[_field_of(n, list(spec.fields)) or n] for n in names]


def _finished(path: Path) -> bool:
    """Whether a run file is there and whole; a truncated or corrupted one is removed (and
    the run made again) with a warning."""
    from meshfield.data.store import load_graph
    from meshfield.errors import MeshFormatError

    if not path.is_file():
        return False
    try:
        load_graph(path)
    except MeshFormatError as exc:
        warnings.warn(f"{exc}; running it again", RuntimeWarning, stacklevel=3)
        path.unlink()
        return False
    return True


def _write_index(out: Path, spec: Any, failed: dict[str, str]) -> None:
    from meshfield.data.dataset import INDEX
    from meshfield.data.store import read_metadata

    runs, splits = [], {}
    field_names: list[str] = []
    for run in spec.runs():
        path = run_path(out, run.split, run.run_id)
        if not path.is_file():
            continue
        if not field_names:
            field_names = list(read_metadata(path).get("field_names", []))
        runs.append(
            {
                "split": run.split,
                "run_id": run.run_id,
                "file": str(path.relative_to(out)),
                "conditions": run.conditions,
            }
        )
        splits.setdefault(run.split, []).append(run.run_id)
    index = {
        "format": "meshfield.dataset",
        "version": 1,
        "case": spec.case,
        "spec": "spec.yaml",
        "complete": len(runs) == len(spec.runs()),
        "failed": failed,
        "splits": splits,
        "conditions": {c.name: {"units": c.units} for c in spec.conditions},
        "fields": {"names": field_names, "units": _units_of(field_names, spec)},
        "times": spec.time.snapshot_times().tolist(),
        "runs": runs,
    }
    write_atomic(out / INDEX, json.dumps(index, indent=2) + "\n")


def datagen(
    spec_or_path: Any,
    out_dir: str | os.PathLike[str],
    *,
    jobs: int = 1,
    splits: Sequence[str] | None = None,
    progress: bool = False,
    from_runs: str | os.PathLike[str] | None = None,
) -> Path:
    """Run every simulation of a data spec and write the dataset.

    With ``from_runs``, nothing is simulated: the runs are read from a folder of finished
    OpenFOAM cases made without meshfield, one case folder per run, found by the conditions
    its name spells (``Re=150``, ``Re150`` or ``Re_150`` for a condition ``Re``). The spec
    says what the dataset holds as for a simulated one: the runs of each split, the snapshot
    times (``time``), the fields and their units. The dataset is the one ``datagen`` writes,
    so ``meshfield train`` and ``evaluate`` take it unchanged.

    Parameters
    ----------
    spec_or_path : DataSpec, str or Path
        A spec or its YAML file.
    out_dir : str or Path
        Dataset folder; created when missing. A folder made from another spec is refused.
    jobs : int, default: 1
        Runs at once, each in its own worker process (``spawn``); 1 runs in this process.
    splits : list of str, optional
        Only these splits. default: all.
    progress : bool, default: False
        Show a progress bar (tqdm).
    from_runs : str or Path, optional
        A folder of finished OpenFOAM cases to read instead of simulating, with the case
        module's ``read_run`` (``case: openfoam_runs`` for any one-cell-thick case,
        ``cylinder_wake`` for runs of that case). default: simulate.

    Returns
    -------
    Path
        ``out_dir``, holding ``spec.yaml``, ``index.json`` and ``<split>/<run_id>.safetensors``.

    Raises
    ------
    SpecError
        An invalid spec, or ``out_dir`` holding runs of a different spec.
    MissingDependencyError
        The case's solver is not installed (the message says how to install it).
    DatagenError
        After all runs were tried, when some failed; it names each failed run and its error,
        and their scratch folders are kept under ``out_dir/.work``.
    """
    from meshfield._progress import progress_bar
    from meshfield.cases import case_module
    from meshfield.data.spec import DataSpec, load_spec

    spec = spec_or_path if isinstance(spec_or_path, DataSpec) else load_spec(spec_or_path)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        msg = f"jobs: expected a positive integer (got {jobs!r})"
        raise SpecError(msg)
    module_name = case_module(spec.case)
    module = importlib.import_module(module_name)
    if hasattr(module, "check_requirements") and from_runs is None:
        module.check_requirements()
    if hasattr(module, "check_spec"):
        module.check_spec(spec)

    if from_runs is None and not hasattr(module, "simulate"):
        msg = (
            f"the {spec.case} case reads finished runs: give the folder that holds them "
            "(meshfield datagen SPEC --out DIR --from-runs FOLDER)"
        )
        raise SpecError(msg)
    if from_runs is not None and not hasattr(module, "read_run"):
        msg = (
            f"--from-runs: the {spec.case} case cannot read runs made elsewhere (it has no "
            "read_run); use case: openfoam_runs"
        )
        raise SpecError(msg)
    out = Path(out_dir)
    runs = spec.runs(splits)
    cases = match_runs(spec, runs, Path(from_runs)) if from_runs is not None else None
    _prepare_folder(out, spec)
    todo = [r for r in runs if not _finished(run_path(out, r.split, r.run_id))]
    failed: dict[str, str] = {}
    details: dict[str, str] = {}
    bar = progress_bar(
        total=len(runs),
        initial=len(runs) - len(todo),
        desc=f"datagen {spec.case}",
        unit="run",
        enabled=progress,
    )

    def record(outcome: _Outcome) -> None:
        bar.update(1)
        if outcome.error is None:
            bar.set_postfix_str(f"{outcome.key} {outcome.seconds:.1f} s", refresh=False)
            return
        failed[outcome.key] = outcome.error
        details[outcome.key] = outcome.details or ""
        bar.write(f"run {outcome.key} failed: {outcome.error}", file=sys.stderr)

    try:
        if cases is not None:
            for run in todo:
                record(_read_run(spec, module_name, *run, str(out), cases[run.key]))
        elif jobs == 1 or len(todo) <= 1:
            for run in todo:
                record(_simulate_run(spec, module_name, *run, str(out)))
        else:
            _run_pool(spec, module_name, todo, out, jobs, record)
    finally:
        bar.close()
        _write_index(out, spec, failed)
        work = out / _WORK
        if not failed and work.is_dir() and not any(p.is_file() for p in work.rglob("*")):
            shutil.rmtree(work, ignore_errors=True)  # only empty split folders are left

    if failed:
        lines = [f"  {key}: {error}" for key, error in failed.items()]
        first = next(iter(details.values()))
        msg = (
            f"{len(failed)} of {len(runs)} runs failed (rerun to retry them; scratch folders are "
            f"kept in {out / _WORK}):\n" + "\n".join(lines) + f"\nfirst traceback:\n{first}"
        )
        raise DatagenError(msg)
    return out


def _run_pool(
    spec: Any, module_name: str, todo: list[Any], out: Path, jobs: int, record: Any
) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)), mp_context=context, initializer=_init_worker
    )
    try:
        futures = {
            pool.submit(_simulate_run, spec, module_name, *run, str(out)): run for run in todo
        }
        for future in as_completed(futures):
            run = futures[future]
            try:
                outcome = future.result()
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                outcome = _Outcome(run.key, 0.0, error=f"worker process died: {exc}")
            record(outcome)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def __getattr__(name: str) -> Any:
    # the command line moved to meshfield.cli.datagen
    if name in ("add_arguments", "build_parser", "main", "run_from_args"):
        import meshfield.cli.datagen as moved
        from meshfield._moved import moved_name

        return moved_name(__name__, name, moved)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
