"""Data specs: how a dataset of simulations is made, in one YAML file.

A spec (one file per dataset in ``data_specs/``) names the case, the mesh recipe, the PDE and its
constants, the conditions and their values per split, the time window, the fields and their
units, the solver settings and the output layout. :func:`load_spec` reads and validates it into
a :class:`DataSpec`; :meth:`DataSpec.runs` lists every simulation, and
:func:`meshfield.cases.datagen.datagen` runs them.

Example spec::

    case: heat_plate
    description: transient conduction on a plate with two holes
    mesh:
      generator: plate_with_holes
      params: {width: 2.0, height: 1.0, size: 0.05}
    pde:
      name: heat
      constants: {}
    conditions:
      alpha: {units: m^2/s, range: [0.01, 0.1], train: 16, val: 4, test: 4, seed: 0}
      T_left: {units: K, train: [1.0], val: [1.0], test: [1.0]}
    combine: product
    time: {spin_up: 0.0, end: 10.0, interval: 0.2}
    fields: {T: K}
    solver:
      name: p1_fem
      settings: {dt: 0.05, theta: 1.0}
    output: {layout: run_per_file, dtype: float32}

Keys
----
``case`` (str, required)
    A registered case name (:func:`meshfield.data.registry.case_names`; a user's own case is
    added with :func:`meshfield.cases.register_case`).
``description`` (str)
    Free text.
``mesh`` (required)
    ``{generator: str, params: {...}}`` (params are free-form, read by the case) or
    ``{file: path}`` (relative to the spec's folder).
``pde`` (required)
    ``{name: str, constants: {name: number}}``.
``conditions`` (required)
    Per condition name either the listed form ``{units: str, train: [values], val: [values],
    test: [values]}`` or the sampled form ``{units: str, range: [lo, hi], train: n, val: n,
    test: n, seed: int, scale: linear | log, digits: int}`` (``n`` values drawn uniformly, on a
    log scale with ``scale: log``, from one generator seeded with ``seed``, train first, rounded
    to ``digits`` significant digits (default 4)). ``train`` is
    required, ``val`` and ``test`` may be left out; every condition lists the same splits.
``combine`` (``product`` or ``zip``, default ``product``)
    How the values of several conditions make runs: every combination, or the i-th value of
    each condition together (the lists of a split then have one length).
``time`` (required)
    ``{spin_up: number, end: number, interval: number}``: snapshots are recorded every
    ``interval`` from ``spin_up`` to ``end``; or ``{steady: true}`` for a steady case (one
    snapshot).
``fields`` (required)
    Field name -> units, e.g. ``{U: m/s, p: m^2/s^2}``; a vector field ``U`` is stored as the
    channels ``U_x``, ``U_y`` (:func:`meshfield.data.channel_names`).
``solver``
    ``{name: str, settings: {...}}``, free-form settings read by the case.
``output``
    ``{layout: run_per_file, dtype: float32 | float64 | float16}``: one safetensors file per
    run, fields stored in ``dtype``.

Numbers may be written as YAML numbers or as numeric strings (PyYAML reads ``1e-3`` as a
string).
"""

from __future__ import annotations

import reprlib

import difflib
import itertools
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import numpy as np

from meshfield.errors import SpecError

__all__ = [
    "SPLITS",
    "ConditionSpec",
    "DataSpec",
    "MeshSpec",
    "OutputSpec",
    "PDESpec",
    "Run",
    "SolverSpec",
    "TimeSpec",
    "load_spec",
]

#: The splits a spec may define, in the order runs are listed.
SPLITS: tuple[str, ...] = ("train", "val", "test")

_DTYPES = ("float32", "float64", "float16")
_LAYOUTS = ("run_per_file",)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: a word value of mesh.params / solver.settings (an OpenFOAM keyword, a scheme name)
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
#: at most this many values (list elements included) in one settings mapping
_MAX_SETTING_ITEMS = 10_000


@dataclass(frozen=True)
class MeshSpec:
    """How the mesh is made: a generator of the case with its parameters, or a file.

    Parameters
    ----------
    generator : str, optional
        Name of a mesh generator the case knows. default: none (then ``file`` is set).
    params : dict, default: {}
        Free-form parameters of the generator, read by the case.
    file : Path, optional
        A mesh file (absolute; relative paths in the YAML are resolved against the spec's
        folder). default: none.
    """

    generator: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    file: Path | None = None


@dataclass(frozen=True)
class PDESpec:
    """The governing equation and its constants.

    Parameters
    ----------
    name : str
        Name of the PDE, e.g. ``"heat"`` or ``"navier_stokes"``.
    constants : dict, default: {}
        Constant name -> value, e.g. ``{"rho": 1.0}``.
    """

    name: str
    constants: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConditionSpec:
    """One physical condition and its values per split.

    Parameters
    ----------
    name : str
        Condition name (a Python identifier), e.g. ``"Re"``.
    units : str
        Units, e.g. ``"1"`` or ``"m^2/s"``.
    values : dict
        Split name -> tuple of values (sampled values already drawn).
    range : tuple of float, optional
        ``(lo, hi)`` of the sampled form. default: none (listed form).
    seed : int, optional
        Seed of the sampled form. default: none.
    scale : str, default: "linear"
        ``"linear"`` or ``"log"`` sampling.
    """

    name: str
    units: str
    values: dict[str, tuple[float, ...]]
    range: tuple[float, float] | None = None
    seed: int | None = None
    scale: str = "linear"


@dataclass(frozen=True)
class TimeSpec:
    """The time window and snapshot interval.

    Parameters
    ----------
    steady : bool, default: False
        A steady case: one snapshot, no time window.
    spin_up : float, default: 0.0
        Time of the first snapshot (the flow develops unrecorded before it).
    end : float, optional
        Time of the last snapshot. default: none (steady).
    interval : float, optional
        Time between snapshots. default: none (steady).
    """

    steady: bool = False
    spin_up: float = 0.0
    end: float | None = None
    interval: float | None = None

    @property
    def num_snapshots(self) -> int:
        """Number of recorded snapshots ``T``."""
        if self.steady or self.end is None or self.interval is None:
            return 1
        # tolerate round-off in (end - spin_up) / interval
        return math.floor((self.end - self.spin_up) / self.interval + 1e-9) + 1

    def snapshot_times(self) -> np.ndarray:
        """The times of the snapshots, float64 ``[T]`` (``[0.0]`` for a steady case).

        Example
        -------
        >>> TimeSpec(spin_up=1.0, end=2.0, interval=0.5).snapshot_times().tolist()
        [1.0, 1.5, 2.0]
        """
        if self.steady or self.interval is None:
            return np.zeros(1)
        return self.spin_up + self.interval * np.arange(self.num_snapshots, dtype=np.float64)


@dataclass(frozen=True)
class SolverSpec:
    """The solver and its settings.

    Parameters
    ----------
    name : str, default: ""
        Solver name, e.g. ``"pimpleFoam"``.
    settings : dict, default: {}
        Free-form settings, read by the case.
    """

    name: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputSpec:
    """How runs are stored.

    Parameters
    ----------
    layout : str, default: "run_per_file"
        ``"run_per_file"``: ``<out>/<split>/<run_id>.safetensors``.
    dtype : str, default: "float32"
        Floating-point type of the stored fields.
    """

    layout: str = "run_per_file"
    dtype: str = "float32"


class Run(NamedTuple):
    """One simulation of a spec: its split, its id and its condition values."""

    split: str
    run_id: str
    conditions: dict[str, float]

    @property
    def key(self) -> str:
        """``"<split>/<run_id>"``, unique in the dataset."""
        return f"{self.split}/{self.run_id}"


@dataclass(frozen=True)
class DataSpec:
    """A validated data spec; see :mod:`meshfield.data.spec` for the YAML keys.

    Build one with :func:`load_spec`.

    Example
    -------
    >>> spec = load_spec({
    ...     "case": "taylor_green", "mesh": {"generator": "grid", "params": {"n": 8}},
    ...     "pde": {"name": "navier_stokes", "constants": {"rho": 1.0}},
    ...     "conditions": {"nu": {"units": "m^2/s", "train": [0.01, 0.1], "test": [0.05]}},
    ...     "time": {"spin_up": 0.0, "end": 1.0, "interval": 0.5},
    ...     "fields": {"U": "m/s", "p": "Pa"}})
    >>> [run.key for run in spec.runs()]
    ['train/nu=0.01', 'train/nu=0.1', 'test/nu=0.05']
    """

    case: str
    mesh: MeshSpec
    pde: PDESpec
    conditions: tuple[ConditionSpec, ...]
    time: TimeSpec
    fields: dict[str, str]
    description: str = ""
    solver: SolverSpec = field(default_factory=SolverSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    combine: str = "product"
    source: str | None = field(default=None, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def condition_names(self) -> list[str]:
        """The condition names, in spec order."""
        return [c.name for c in self.conditions]

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits that have runs, in the order train, val, test."""
        return tuple(s for s in SPLITS if s in self.conditions[0].values)

    def runs(self, splits: Sequence[str] | None = None) -> list[Run]:
        """Every simulation of the spec.

        Run ids are built from the condition values (``"Re=060"``, ``"alpha=0.05,T_left=1"``)
        and do not depend on anything else, so a re-run finds its earlier files.

        Parameters
        ----------
        splits : list of str, optional
            Only these splits. default: all.

        Returns
        -------
        list of Run
            ``(split, run_id, conditions)`` in split order, then in the order of the values.
        """
        selected = self.splits if splits is None else tuple(splits)
        unknown = [s for s in selected if s not in self.splits]
        if unknown:
            msg = f"splits: expected some of {list(self.splits)} (got {unknown})"
            raise SpecError(msg)
        runs = _all_runs(self)
        return [run for run in runs if run.split in selected]

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain YAML/JSON data, as written (mesh files made absolute)."""
        out = _plain(self.raw)
        if self.mesh.file is not None:
            out["mesh"] = {**out["mesh"], "file": str(self.mesh.file)}
        return out

    def to_yaml(self) -> str:
        """The spec as YAML text (:meth:`to_dict`), loadable by :func:`load_spec`."""
        import yaml

        header = f"# data spec, from {self.source}\n" if self.source else ""
        return header + yaml.safe_dump(self.to_dict(), sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- reading ---------------------------------------------------------------------------------


class _Reader:
    """Type and value checks whose errors name the spec file and the key path."""

    def __init__(self, source: str | None) -> None:
        self.prefix = f"{source}: " if source else ""

    def fail(self, path: str, text: str) -> NoReturn:
        msg = f"{self.prefix}{path}: {text}"
        raise SpecError(msg)

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, f"expected a mapping (got {_describe(value)})")
        for key in value:
            if not isinstance(key, str):
                self.fail(path, f"expected string keys (got {key!r})")
        return value

    def keys(
        self,
        value: Mapping[str, Any],
        path: str,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> None:
        for key in value:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.fail(where, f"unknown key (expected one of {list(allowed)}){hint}")
        for key in required:
            if key not in value:
                where = f"{path}.{key}" if path else key
                self.fail(where, "missing required key")

    def string(self, value: Any, path: str, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str):
            self.fail(path, f"expected a string (got {_describe(value)})")
        if not allow_empty and not value.strip():
            self.fail(path, "expected a non-empty string (got '')")
        return value

    def name(self, value: Any, path: str) -> str:
        text = self.string(value, path)
        if not _NAME.match(text):
            self.fail(path, f"expected a name of letters, digits and '_' (got {text!r})")
        return text

    def number(self, value: Any, path: str) -> float:
        if isinstance(value, bool):
            self.fail(path, f"expected a number (got {_describe(value)})")
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                self.fail(path, f"expected a number (got {_describe(value)})")
        else:
            self.fail(path, f"expected a number (got {_describe(value)})")
        if not math.isfinite(number):
            self.fail(path, f"expected a finite number (got {value!r})")
        return number

    def positive(self, value: Any, path: str) -> float:
        number = self.number(value, path)
        if number <= 0:
            self.fail(path, f"expected a positive number (got {value!r})")
        return number

    def integer(self, value: Any, path: str, *, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an integer (got {_describe(value)})")
        if minimum is not None and value < minimum:
            self.fail(path, f"expected an integer >= {minimum} (got {value})")
        return int(value)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false (got {_describe(value)})")
        return value

    def settings(self, value: Any, path: str) -> dict[str, Any]:
        """Free-form case settings as plain data: every value a finite number, true/false,
        null, one word, or a short list of these (nested at most 3 deep). Solvers write them
        into their own input files, so no value may carry that syntax (``;``, braces,
        spaces)."""
        settings = dict(self.mapping(value, path))
        budget = [_MAX_SETTING_ITEMS]

        def check(item: Any, where: str, depth: int) -> None:
            budget[0] -= 1
            if budget[0] < 0:
                self.fail(path, f"more than {_MAX_SETTING_ITEMS} values")
            if item is None or isinstance(item, bool):
                return
            if isinstance(item, int | float):
                if not math.isfinite(item):
                    self.fail(where, f"expected a finite number (got {item!r})")
                return
            if isinstance(item, str):
                if not _WORD.match(item):
                    self.fail(
                        where,
                        "expected a number, true/false or one word of letters, digits and '_' "
                        f"(got {_describe(item)})",
                    )
                return
            if isinstance(item, list | tuple) and depth < 3:
                for i, element in enumerate(item):
                    check(element, f"{where}[{i}]", depth + 1)
                return
            self.fail(
                where,
                "expected a number, true/false, one word or a list of these "
                f"(got {_describe(item)})",
            )

        for key, item in settings.items():
            check(item, f"{path}.{self.name(key, f'{path} key')}", 0)
        return settings

    def choice(self, value: Any, path: str, choices: Sequence[str]) -> str:
        text = self.string(value, path)
        if text not in choices:
            close = difflib.get_close_matches(text, choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.fail(path, f"expected one of {list(choices)} (got {text!r}){hint}")
        return text


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel, short.maxdict, short.maxlist, short.maxtuple = 2, 4, 4, 4
    short.maxstring = short.maxother = 60
    return short


_SHORT = _short_repr()


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    # reprlib cuts while it writes: the whole repr of a large value is never built
    return f"{type(value).__name__} {_SHORT.repr(value)}"[:80]


def _read_mesh(reader: _Reader, value: Any, base: Path | None) -> MeshSpec:
    mesh = reader.mapping(value, "mesh")
    reader.keys(mesh, "mesh", ("generator", "params", "file"))
    if ("generator" in mesh) == ("file" in mesh):
        reader.fail("mesh", "expected either 'generator' (with 'params') or 'file', not both")
    if "file" in mesh:
        if "params" in mesh:
            reader.fail("mesh.params", "params go with a generator, not with a mesh file")
        path = Path(reader.string(mesh["file"], "mesh.file")).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.exists():
            reader.fail("mesh.file", f"no such file: {path}")
        return MeshSpec(file=path.resolve())
    generator = reader.string(mesh["generator"], "mesh.generator")
    params = reader.settings(mesh.get("params", {}) or {}, "mesh.params")
    return MeshSpec(generator=generator, params=params)


def _read_pde(reader: _Reader, value: Any) -> PDESpec:
    pde = reader.mapping(value, "pde")
    reader.keys(pde, "pde", ("name", "constants"), required=("name",))
    name = reader.string(pde["name"], "pde.name")
    constants_in = reader.mapping(pde.get("constants", {}) or {}, "pde.constants")
    constants = {
        reader.name(k, f"pde.constants.{k}"): reader.number(v, f"pde.constants.{k}")
        for k, v in constants_in.items()
    }
    return PDESpec(name=name, constants=constants)


def _draw(
    rng: np.random.Generator, count: int, lo: float, hi: float, scale: str, digits: int
) -> list[float]:
    unit = rng.random(count)
    if scale == "log":
        values = np.exp(np.log(lo) + unit * (np.log(hi) - np.log(lo)))
    else:
        values = lo + unit * (hi - lo)
    return [float(f"{v:.{digits}g}") for v in values]


def _repeats(values: Sequence[float]) -> list[int]:
    """Positions of values seen earlier in the list."""
    seen: set[float] = set()
    out = []
    for i, v in enumerate(values):
        if v in seen:
            out.append(i)
        seen.add(v)
    return out


def _read_condition(reader: _Reader, name: str, value: Any) -> ConditionSpec:
    path = f"conditions.{name}"
    reader.name(name, path)
    cond = reader.mapping(value, path)
    sampled = "range" in cond
    if sampled:
        allowed = ("units", "range", "train", "val", "test", "seed", "scale", "digits")
    else:
        allowed = ("units", "train", "val", "test")
    reader.keys(cond, path, allowed, required=("units", "train"))
    units = reader.string(cond["units"], f"{path}.units")
    values: dict[str, tuple[float, ...]] = {}
    if not sampled:
        for split in SPLITS:
            if split not in cond:
                continue
            where = f"{path}.{split}"
            items = cond[split]
            if not isinstance(items, (list, tuple)):
                reader.fail(where, f"expected a list of numbers (got {_describe(items)})")
            if not items:
                reader.fail(where, "expected at least one value (leave the split out for none)")
            numbers = tuple(reader.number(v, f"{where}[{i}]") for i, v in enumerate(items))
            if len(set(numbers)) != len(numbers):
                twice = sorted({v for v in numbers if numbers.count(v) > 1})
                reader.fail(where, f"expected distinct values (got {twice} more than once)")
            values[split] = numbers
        return ConditionSpec(name=name, units=units, values=values)

    span = cond["range"]
    if not isinstance(span, (list, tuple)) or len(span) != 2:
        reader.fail(f"{path}.range", f"expected [lo, hi] (got {_describe(span)})")
    lo = reader.number(span[0], f"{path}.range[0]")
    hi = reader.number(span[1], f"{path}.range[1]")
    if not lo < hi:
        reader.fail(f"{path}.range", f"expected lo < hi (got [{span[0]}, {span[1]}])")
    scale = reader.choice(cond.get("scale", "linear"), f"{path}.scale", ("linear", "log"))
    if scale == "log" and lo <= 0:
        reader.fail(f"{path}.range", f"log sampling needs lo > 0 (got {span[0]})")
    seed = reader.integer(cond.get("seed", 0), f"{path}.seed", minimum=0)
    digits = reader.integer(cond.get("digits", 4), f"{path}.digits", minimum=1)
    rng = np.random.default_rng(seed)
    for split in SPLITS:
        if split not in cond:
            continue
        count = reader.integer(cond[split], f"{path}.{split}")
        if count < 1:
            reader.fail(
                f"{path}.{split}",
                f"expected a positive number of samples (got {count}); leave the split out "
                "for none",
            )
        # draw order, not sorted: with combine: zip, sorting would correlate the conditions
        drawn = _draw(rng, count, lo, hi, scale, digits)
        for _ in range(100):  # redraw values that rounding made equal
            repeats = _repeats(drawn)
            if not repeats:
                break
            fresh = _draw(rng, len(repeats), lo, hi, scale, digits)
            for i, v in zip(repeats, fresh, strict=True):
                drawn[i] = v
        else:
            reader.fail(
                f"{path}.digits",
                f"cannot draw {count} distinct {split} values with {digits} significant digits "
                f"in [{span[0]}, {span[1]}]; raise digits",
            )
        values[split] = tuple(drawn)
    return ConditionSpec(
        name=name, units=units, values=values, range=(lo, hi), seed=seed, scale=scale
    )


def _read_time(reader: _Reader, value: Any) -> TimeSpec:
    time = reader.mapping(value, "time")
    reader.keys(time, "time", ("steady", "spin_up", "end", "interval"))
    steady = reader.boolean(time.get("steady", False), "time.steady")
    if steady:
        extra = [k for k in ("spin_up", "end", "interval") if k in time]
        if extra:
            reader.fail(f"time.{extra[0]}", "a steady case has no time window (steady: true)")
        return TimeSpec(steady=True)
    for key in ("end", "interval"):
        if key not in time:
            reader.fail(f"time.{key}", "missing required key (or set steady: true)")
    spin_up = reader.number(time.get("spin_up", 0.0), "time.spin_up")
    if spin_up < 0:
        reader.fail("time.spin_up", f"expected a number >= 0 (got {time['spin_up']!r})")
    end = reader.number(time["end"], "time.end")
    interval = reader.positive(time["interval"], "time.interval")
    if end <= spin_up:
        reader.fail("time.end", f"expected end > spin_up = {spin_up:g} (got {time['end']!r})")
    if interval > end - spin_up:
        reader.fail(
            "time.interval",
            f"expected at most end - spin_up = {end - spin_up:g} (got {time['interval']!r})",
        )
    return TimeSpec(steady=False, spin_up=spin_up, end=end, interval=interval)


def _read_fields(reader: _Reader, value: Any) -> dict[str, str]:
    fields = reader.mapping(value, "fields")
    if not fields:
        reader.fail("fields", "expected at least one field, name -> units")
    return {
        reader.name(k, f"fields.{k}"): reader.string(v, f"fields.{k}") for k, v in fields.items()
    }


def _read_solver(reader: _Reader, value: Any) -> SolverSpec:
    solver = reader.mapping(value, "solver")
    reader.keys(solver, "solver", ("name", "settings"), required=("name",))
    name = reader.string(solver["name"], "solver.name")
    settings = reader.settings(solver.get("settings", {}) or {}, "solver.settings")
    return SolverSpec(name=name, settings=settings)


def _read_output(reader: _Reader, value: Any) -> OutputSpec:
    output = reader.mapping(value, "output")
    reader.keys(output, "output", ("layout", "dtype"))
    layout = reader.choice(output.get("layout", "run_per_file"), "output.layout", _LAYOUTS)
    dtype = reader.choice(output.get("dtype", "float32"), "output.dtype", _DTYPES)
    return OutputSpec(layout=layout, dtype=dtype)


def _check_splits(reader: _Reader, conditions: tuple[ConditionSpec, ...], combine: str) -> None:
    first = conditions[0]
    for cond in conditions[1:]:
        if set(cond.values) != set(first.values):
            reader.fail(
                f"conditions.{cond.name}",
                f"expected the splits of conditions.{first.name}, {list(first.values)} "
                f"(got {list(cond.values)})",
            )
    if combine == "zip":
        for split in first.values:
            lengths = {c.name: len(c.values[split]) for c in conditions}
            if len(set(lengths.values())) > 1:
                reader.fail(
                    "combine",
                    f"zip needs the same number of {split} values per condition (got {lengths})",
                )


def _format_values(values: Sequence[float], digits: int) -> dict[float, str]:
    integral = all(v.is_integer() and abs(v) < 1e15 for v in values)
    if integral:
        width = max(len(str(abs(int(v)))) for v in values)
        return {v: ("-" if v < 0 else "") + str(abs(int(v))).zfill(width) for v in values}
    return {v: f"{v:.{digits}g}" for v in values}


def _all_runs(spec: DataSpec) -> list[Run]:
    everything = {
        c.name: sorted({v for vals in c.values.values() for v in vals}) for c in spec.conditions
    }
    for digits in (6, 17):
        labels = {name: _format_values(vals, digits) for name, vals in everything.items()}
        runs = []
        for split in spec.splits:
            columns = [c.values[split] for c in spec.conditions]
            combos = itertools.product(*columns) if spec.combine == "product" else zip(*columns)
            for combo in combos:
                run_id = ",".join(
                    f"{c.name}={labels[c.name][v]}"
                    for c, v in zip(spec.conditions, combo, strict=True)
                )
                conditions = {c.name: float(v) for c, v in zip(spec.conditions, combo, strict=True)}
                runs.append(Run(split, run_id, conditions))
        if len({r.key for r in runs}) == len(runs):
            return runs
    # the same combination twice in one split (zip of repeated values)
    seen: set[str] = set()
    for run in runs:
        if run.key in seen:
            prefix = f"{spec.source}: " if spec.source else ""
            msg = f"{prefix}conditions: the run {run.key} is listed twice"
            raise SpecError(msg)
        seen.add(run.key)
    return runs  # pragma: no cover - unreachable


_TOP = (
    "case",
    "description",
    "mesh",
    "pde",
    "conditions",
    "combine",
    "time",
    "fields",
    "solver",
    "output",
)


#: the largest data spec file read (a spec is a page of settings)
_MAX_SPEC_BYTES = 1 << 20


def _spec_loader(path: Path) -> type:
    """A safe YAML loader that refuses aliases: a spec is plain data, and nested aliases
    expand a few kilobytes into gigabytes (a "billion laughs" document)."""
    import yaml

    class SpecLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.events.AliasEvent):
                event = self.peek_event()
                msg = (
                    f"{path}: line {event.start_mark.line + 1}: YAML aliases "
                    f"(*{event.anchor}) are not allowed in a data spec; write the values out"
                )
                raise SpecError(msg)
            return super().compose_node(parent, index)

    return SpecLoader


def load_spec(path_or_dict: str | os.PathLike[str] | Mapping[str, Any]) -> DataSpec:
    """Read and validate a data spec.

    Every key is checked: unknown keys (with a suggestion), wrong types and impossible values
    (a negative interval, an empty split, ``end <= spin_up``, an unknown case, ...) raise
    :class:`~meshfield.errors.SpecError` naming the file and the key path.

    Parameters
    ----------
    path_or_dict : str, Path or dict
        A YAML file, or the spec as a dict (e.g. made in a test).

    Returns
    -------
    DataSpec
        The validated spec; sampled condition values are drawn.

    Raises
    ------
    SpecError
        On any invalid key or value.
    FileNotFoundError
        When the file does not exist.

    Example
    -------
    >>> load_spec({"case": "heat_plate", "mesh": {"generator": "plate"},
    ...            "pde": {"name": "heat"}, "conditions": {"alpha": {"units": "m^2/s",
    ...            "train": [0.1, 0.2]}}, "time": {"end": 1.0, "interval": -0.5},
    ...            "fields": {"T": "K"}})
    Traceback (most recent call last):
    ...
    meshfield.errors.SpecError: time.interval: expected a positive number (got -0.5)
    """
    base: Path | None = None
    if isinstance(path_or_dict, Mapping):
        raw: Any = path_or_dict
        source = None
    else:
        import yaml

        path = Path(path_or_dict)
        source = str(path)
        if not path.is_file():
            from meshfield.errors import MeshFileNotFoundError

            msg = f"{path}: no such data spec file"
            raise MeshFileNotFoundError(msg)
        size = path.stat().st_size
        if size > _MAX_SPEC_BYTES:
            msg = f"{path}: a data spec of {size} bytes is too large (at most {_MAX_SPEC_BYTES})"
            raise SpecError(msg)
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_spec_loader(path))
        except yaml.YAMLError as exc:
            msg = f"{path}: not valid YAML: {exc}"
            raise SpecError(msg) from exc
        base = path.resolve().parent

    reader = _Reader(source)
    if not isinstance(raw, Mapping):
        reader.fail("<top>", f"expected a mapping of keys (got {_describe(raw)})")
    top = reader.mapping(raw, "<top>")
    reader.keys(top, "", _TOP, required=("case", "mesh", "pde", "conditions", "time", "fields"))

    from meshfield.data.registry import case_names  # names only; no case is imported

    names = case_names()
    case = reader.string(top["case"], "case")
    if case not in names:
        close = difflib.get_close_matches(case, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        reader.fail("case", f"unknown case {case!r} (expected one of {list(names)}){hint}")
    description = reader.string(top.get("description", ""), "description", allow_empty=True)
    mesh = _read_mesh(reader, top["mesh"], base)
    pde = _read_pde(reader, top["pde"])

    conditions_in = reader.mapping(top["conditions"], "conditions")
    if not conditions_in:
        reader.fail("conditions", "expected at least one condition")
    conditions = tuple(_read_condition(reader, k, v) for k, v in conditions_in.items())
    combine = reader.choice(top.get("combine", "product"), "combine", ("product", "zip"))
    _check_splits(reader, conditions, combine)

    time = _read_time(reader, top["time"])
    fields = _read_fields(reader, top["fields"])
    solver = _read_solver(reader, top["solver"]) if "solver" in top else SolverSpec()
    output = _read_output(reader, top["output"]) if "output" in top else OutputSpec()

    spec = DataSpec(
        case=case,
        description=description,
        mesh=mesh,
        pde=pde,
        conditions=conditions,
        combine=combine,
        time=time,
        fields=fields,
        solver=solver,
        output=output,
        source=source,
        raw=_plain(top),
    )
    runs = spec.runs()
    by_values: dict[tuple[float, ...], str] = {}
    for run in runs:
        values = tuple(run.conditions.values())
        other = by_values.setdefault(values, run.split)
        if other != run.split:
            warnings.warn(
                f"{reader.prefix}conditions: {run.run_id} is in both {other} and {run.split}",
                stacklevel=2,
            )
    return spec
