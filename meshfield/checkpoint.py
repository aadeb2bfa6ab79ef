"""Checkpoints: weights in safetensors, everything else in JSON, loaded without unpickling.

A checkpoint is a directory::

    run/
      model.safetensors   the state dict (weights and normalization buffers)
      config.json         format and version, model kind, configuration, field and condition
                          names, condition ranges, normalization statistics, data spec,
                          user metadata, and the size and SHA-256 of model.safetensors

:func:`save_checkpoint` writes it atomically (into a temporary directory beside the target,
then renamed), so a crash never leaves a half-written checkpoint under the final name.
:func:`load_model` rebuilds the model from ``config.json`` and loads the weights with
``safetensors``: no pickle, no code from the file is ever run. A truncated or modified weights
file, a malformed or inconsistent ``config.json`` raise :class:`CheckpointError` naming the
file.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from meshfield._files import atomic_folder, sha256
from meshfield.errors import MeshfieldError

if TYPE_CHECKING:
    from meshfield.models.base import FieldModel

__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "load_model",
    "load_optimizer_state",
    "load_rng_state",
    "optimizer_state",
    "read_checkpoint",
    "rng_state",
    "save_checkpoint",
]

#: value of ``config.json["format"]``
FORMAT = "meshfield-checkpoint"
#: version of the layout written here
VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class CheckpointError(MeshfieldError, ValueError):
    """A checkpoint that cannot be loaded: corrupt, truncated, modified or inconsistent."""


def _plain_json(value: Any, what: str) -> Any:
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as err:
        msg = f"'{what}' must be JSON-serializable (or have a to_dict()): {err}"
        raise TypeError(msg) from None


def _cond_ranges(model: FieldModel) -> dict[str, list[float | None]]:
    low = model.normalizer.cond_min.tolist()
    high = model.normalizer.cond_max.tolist()
    return {
        name: [None if math.isinf(a) else a, None if math.isinf(b) else b]
        for name, a, b in zip(model.cond_names, low, high, strict=True)
    }


def save_checkpoint(
    model: FieldModel,
    path: str | os.PathLike[str],
    *,
    data_spec: Any = None,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Save a model as a checkpoint directory (atomically).

    Parameters
    ----------
    model : FieldModel
        An :class:`~meshfield.models.HMT`, :class:`~meshfield.models.MeshGraphNet` or
        :class:`~meshfield.models.Transformer`.
    path : str or path-like
        The checkpoint directory to create (or replace).
    data_spec : object, optional
        The data spec the model was trained on: JSON data or an object with ``to_dict()``.
        default: the ``data_spec`` of a model read by :func:`load_model` (so a model saved
        again, e.g. after fine-tuning, keeps it), else none.
    metadata : mapping, optional
        Further JSON data (epoch, metrics, ...). default: none.
    overwrite : bool, default: True
        Replace an existing checkpoint at ``path``. A directory that is not a checkpoint (no
        ``config.json``) is never replaced.

    Returns
    -------
    pathlib.Path
        ``path``.

    Example
    -------
    >>> import tempfile, meshfield
    >>> from meshfield.models import MeshGraphNet
    >>> model = MeshGraphNet(field_names=("p",), width=8, num_layers=1)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_checkpoint(model, f"{tmp}/run")
    ...     meshfield.load_model(path).config == model.config
    True
    """
    path = Path(path)
    if path.exists():
        if not overwrite:
            msg = f"{path} exists; pass overwrite=True to replace it"
            raise FileExistsError(msg)
        if not path.is_dir() or (
            any(path.iterdir()) and not (path / CONFIG_FILE).is_file()
        ):
            msg = f"{path} exists and is not a meshfield checkpoint; refusing to replace it"
            raise FileExistsError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(path) as folder:
        write_checkpoint_files(model, folder, data_spec=data_spec, metadata=metadata)
    return path


def write_checkpoint_files(
    model: FieldModel,
    folder: Path,
    *,
    data_spec: Any = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write ``model.safetensors`` and ``config.json`` into an existing (staging) folder.

    Not atomic by itself: :func:`save_checkpoint` and the writers of folders that hold a
    checkpoint and more (training state, refiner) call it inside
    :func:`meshfield._files.atomic_folder`. The arguments are those of :func:`save_checkpoint`.
    """
    from meshfield.models.config import config_to_dict

    tensors = {
        name: value.detach().to("cpu").contiguous().clone()
        for name, value in model.state_dict().items()
    }
    if data_spec is None:
        data_spec = getattr(model, "data_spec", None)
    metadata = dict(metadata) if metadata else {}
    names = getattr(model, "boundary_names", None)
    if names is not None and "boundary_names" not in metadata:
        metadata["boundary_names"] = list(names)  # generate matches meshes by these names
    info: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kind": model.kind,
        "config": config_to_dict(model.config),
        "field_names": list(model.field_names),
        "cond_names": list(model.cond_names),
        "cond_ranges": _cond_ranges(model),
        "normalization": model.normalizer.to_dict(),
        "data_spec": _plain_json(data_spec, "data_spec"),
        "metadata": _plain_json(dict(metadata) if metadata else {}, "metadata"),
    }
    write_weights_and_info(
        folder, WEIGHTS_FILE, tensors, CONFIG_FILE, info, {"format": "pt", "kind": model.kind}
    )


def write_weights_and_info(
    folder: Path,
    weights_name: str,
    tensors: Mapping[str, torch.Tensor],
    info_name: str,
    info: dict[str, Any],
    weights_metadata: Mapping[str, str],
) -> None:
    """Write ``tensors`` (safetensors) and ``info`` (JSON) into an existing (staging) folder.

    ``info["weights"]`` records the weights file's name, size and SHA-256, which loading
    checks; both checkpoints and refiners are written this way, inside
    :func:`meshfield._files.atomic_folder`.
    """
    from safetensors.torch import save_file

    weights = folder / weights_name
    save_file(dict(tensors), str(weights), metadata=dict(weights_metadata))
    info["weights"] = {
        "file": weights_name,
        "bytes": weights.stat().st_size,
        "sha256": sha256(weights),
    }
    with (folder / info_name).open("w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.write("\n")


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked contents of a checkpoint's ``config.json`` (what the checkpoint holds).

    Raises
    ------
    FileNotFoundError
        No checkpoint directory or ``config.json`` at ``path``.
    CheckpointError
        ``config.json`` is not valid JSON or not a meshfield checkpoint of a known version.
    """
    path = Path(path)
    config_path = path / CONFIG_FILE
    if not path.is_dir() or not config_path.is_file():
        msg = f"No meshfield checkpoint at {path} (expected a directory with {CONFIG_FILE})"
        raise FileNotFoundError(msg)
    try:
        info = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"{config_path} is not valid JSON: {err}"
        raise CheckpointError(msg) from None
    except RecursionError:
        msg = f"{config_path} is nested too deeply to be a meshfield checkpoint"
        raise CheckpointError(msg) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        msg = f'{config_path} is not a meshfield checkpoint (no "format": "{FORMAT}")'
        raise CheckpointError(msg)
    if info.get("version") != VERSION:
        msg = f"{config_path} has checkpoint version {info.get('version')!r}; this meshfield reads {VERSION}"
        raise CheckpointError(msg)
    required = (
        "kind",
        "config",
        "field_names",
        "cond_names",
        "normalization",
        "weights",
    )
    missing = [key for key in required if key not in info]
    if missing:
        msg = f"{config_path} lacks {missing}"
        raise CheckpointError(msg)
    return info


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says beyond its weights, parsed once: names, ranges, spec, time, units.

    Built from the contents of ``config.json`` (:func:`read_checkpoint`) or from what a model
    object knows; ``generate``, ``evaluate``, ``meshfield info`` and the benchmarks read the
    checkpoint's data spec, time window, units and condition ranges through it, never from the
    raw dictionary.

    Example
    -------
    >>> from meshfield.pretrained import resolve_checkpoint
    >>> info = CheckpointInfo.read(resolve_checkpoint("cylinder_wake"))
    >>> info.field_names, info.units["U"], info.time.interval
    (('U_x', 'U_y', 'p'), 'm/s', 0.2)
    """

    #: model family (registry name)
    kind: str
    field_names: tuple[str, ...]
    cond_names: tuple[str, ...]
    #: ``{name: (low, high)}`` of the training conditions (``None``: unbounded)
    cond_ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    #: the data spec the model was trained on, as plain data (``None``: unknown)
    data_spec: Mapping[str, Any] | None = None
    #: free-form metadata (``rollout_steps``, ``boundary_names``, ...)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: snapshot intervals of the data spec per model step (the model's ``config.frame_step``)
    frame_step: int = 1

    @classmethod
    def from_dict(cls, info: Mapping[str, Any]) -> CheckpointInfo:
        """Parse the contents of ``config.json`` (entries of the wrong kind count as absent)."""
        ranges: dict[str, tuple[float | None, float | None]] = {}
        raw_ranges = info.get("cond_ranges")
        if isinstance(raw_ranges, Mapping):
            for name, pair in raw_ranges.items():
                numbers = isinstance(pair, list | tuple) and len(pair) == 2 and all(
                    v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                    for v in pair
                )
                if numbers:
                    low, high = (None if v is None else float(v) for v in pair)
                    ranges[str(name)] = (low, high)
        spec = info.get("data_spec")
        metadata = info.get("metadata")
        config = info.get("config")
        step = config.get("frame_step", 1) if isinstance(config, Mapping) else 1
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            step = 1
        return cls(
            kind=str(info.get("kind", "")),
            field_names=tuple(str(n) for n in info.get("field_names") or ()),
            cond_names=tuple(str(n) for n in info.get("cond_names") or ()),
            cond_ranges=ranges,
            data_spec=spec if isinstance(spec, Mapping) else None,
            metadata=metadata if isinstance(metadata, Mapping) else {},
            frame_step=step,
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CheckpointInfo:
        """:func:`read_checkpoint`, parsed."""
        return cls.from_dict(read_checkpoint(path))

    @property
    def spec(self) -> Mapping[str, Any]:
        """The data spec, or an empty mapping."""
        return self.data_spec if self.data_spec is not None else {}

    @property
    def time(self) -> Any:
        """The spec's time window as a :class:`~meshfield.data.spec.TimeSpec`, or ``None``."""
        from meshfield.data.spec import TimeSpec

        time = self.spec.get("time")
        if not isinstance(time, Mapping):
            return None
        try:
            if time.get("steady"):
                return TimeSpec(steady=True)
            interval, end = time.get("interval"), time.get("end")
            return TimeSpec(
                spin_up=float(time.get("spin_up", 0.0) or 0.0),
                end=None if end is None else float(end),
                interval=None if interval is None else float(interval),
            )
        except (TypeError, ValueError):
            return None

    @property
    def step_interval(self) -> float | None:
        """Time per model step: the spec's snapshot interval times ``frame_step`` (``None``:
        no time window, or a steady case)."""
        time = self.time
        if time is None or time.steady or not time.interval:
            return None
        return time.interval * self.frame_step

    @property
    def num_frames(self) -> int | None:
        """Frames of the spec's time window at the model's step: every ``frame_step``-th
        snapshot from the first (``None``: no time window)."""
        time = self.time
        if time is None:
            return None
        return (time.num_snapshots - 1) // self.frame_step + 1

    def times(self, total: int) -> torch.Tensor:
        """``[total]`` times of a rollout's frames: the spec's snapshots ``frame_step`` apart,
        else 0, 1, 2, ..."""
        time, step = self.time, self.step_interval
        if step is None:
            return torch.arange(total, dtype=torch.float64)
        return time.spin_up + step * torch.arange(total, dtype=torch.float64)

    @property
    def units(self) -> dict[str, str]:
        """``{field or vector name: unit}`` from the spec's ``fields``."""
        fields = self.spec.get("fields")
        if not isinstance(fields, Mapping):
            return {}
        return {str(k): str(v) for k, v in fields.items() if v is not None}


def _inconsistent(config_path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{config_path} is inconsistent: {what}")


def _check_shapes(cls: Any, config: Any, tensors: Mapping[str, Any], config_path: Path) -> None:
    """Compare the weights with the model the config describes, built on the meta device
    (no memory), so a config that does not match its weights (a width of 200000, say) is an
    error before anything large is allocated."""
    try:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in cls(config).state_dict().items()}
    except (NotImplementedError, RuntimeError):
        return  # a model that cannot be built on the meta device is checked after loading
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if shapes == found:
        return
    missing = sorted(set(shapes) - set(found))
    unexpected = sorted(set(found) - set(shapes))
    wrong = sorted(k for k in set(shapes) & set(found) if shapes[k] != found[k])
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} of another shape (e.g. {k}: config {list(shapes[k])}, "
                     f"weights {list(found[k])})")
    raise _inconsistent(config_path, "the config does not describe the weights: " + "; ".join(parts))


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> FieldModel:
    """Rebuild a model from a checkpoint directory written by :func:`save_checkpoint`.

    The configuration and normalization come from ``config.json`` and the weights from
    ``model.safetensors``; nothing is unpickled. The weights file must have the size and
    SHA-256 recorded in ``config.json``.

    Parameters
    ----------
    path : str or path-like
        The checkpoint directory.
    device : str or torch.device, default: "cpu"
        Where the model's tensors go.

    Returns
    -------
    FieldModel
        The model in eval mode; ``model.data_spec`` holds the checkpoint's data spec (or
        ``None``), which :func:`save_checkpoint` writes again.

    Raises
    ------
    FileNotFoundError
        No checkpoint at ``path`` or no weights file.
    CheckpointError
        Truncated or modified weights, malformed or inconsistent ``config.json``; the message
        names the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from meshfield.models.config import config_from_dict
    from meshfield.models.registry import model_class

    path = Path(path)
    info = read_checkpoint(path)
    config_path = path / CONFIG_FILE

    try:
        cls = model_class(info["kind"])
    except ValueError as err:
        raise _inconsistent(config_path, str(err)) from None
    try:
        config = config_from_dict(cls.config_class(), info["config"])
    except (TypeError, ValueError) as err:
        raise _inconsistent(config_path, f"bad 'config': {err}") from None
    if list(config.field_names) != list(info["field_names"]):
        raise _inconsistent(
            config_path,
            f"field_names {info['field_names']} differ from the config's {list(config.field_names)}",
        )
    if list(config.cond_names) != list(info["cond_names"]):
        raise _inconsistent(
            config_path,
            f"cond_names {info['cond_names']} differ from the config's {list(config.cond_names)}",
        )

    weights_info = info["weights"]
    weights = path / str(weights_info.get("file", WEIGHTS_FILE))
    if weights.parent != path:
        raise _inconsistent(
            config_path, f"weights file {weights_info.get('file')!r} is outside {path}"
        )
    if not weights.is_file():
        msg = f"{weights} is missing (the checkpoint {path} names it)"
        raise FileNotFoundError(msg)
    size = weights.stat().st_size
    if "bytes" in weights_info and size != weights_info["bytes"]:
        msg = (
            f"{weights} is truncated or was modified: {size} bytes, the checkpoint recorded "
            f"{weights_info['bytes']}"
        )
        raise CheckpointError(msg)
    if "sha256" in weights_info and sha256(weights) != weights_info["sha256"]:
        msg = (
            f"{weights} was modified: its SHA-256 differs from the one in {config_path}"
        )
        raise CheckpointError(msg)
    try:
        tensors = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        msg = f"{weights} is not a readable safetensors file: {err}"
        raise CheckpointError(msg) from None

    _check_shapes(cls, config, tensors, config_path)
    model = cls(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        msg = (
            f"{weights} does not match the {cls.__name__} of {config_path}: missing tensors "
            f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected "
            f"{unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
        raise CheckpointError(msg)
    wrong = [
        name for name, value in expected.items() if value.shape != tensors[name].shape
    ]
    if wrong:
        msg = (
            f"{weights} does not match the {cls.__name__} of {config_path}: tensors of the "
            f"wrong shape {wrong[:5]}"
        )
        raise CheckpointError(msg)
    model.load_state_dict(tensors, strict=True)

    stored = model.normalizer.to_dict()
    try:
        from meshfield.models.normalizer import Normalizer

        listed = Normalizer(
            model.normalizer.num_fields, model.normalizer.num_cond, model.normalizer.dim
        ).load_dict(info["normalization"])
    except (TypeError, ValueError) as err:
        raise _inconsistent(config_path, f"bad 'normalization': {err}") from None
    if listed.to_dict() != stored:
        raise _inconsistent(
            config_path, f"its normalization statistics differ from those in {weights}"
        )
    # what the checkpoint says beyond the weights, kept for saving the model again
    model.data_spec = info.get("data_spec")
    model.boundary_names = (info.get("metadata") or {}).get("boundary_names")
    return model.to(device).eval()


# -------------------------------------------------------------------------------------------
# optimizer and random states of a resumable run, without pickle


def optimizer_state(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """An optimizer's state as JSON values and tensors (``optimizer/<param>/<name>``).

    The one format of optimizer state in meshfield (training and fine-tuning): tensors go to
    safetensors, everything else (parameter groups, scalar entries) to JSON, so resuming never
    unpickles. :func:`load_optimizer_state` is the inverse.
    """
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer/{index}/{name}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [dict(group) for group in state["param_groups"]]
    return {"param_groups": groups, "scalars": scalars}, tensors


def load_optimizer_state(
    optimizer: torch.optim.Optimizer,
    info: Mapping[str, Any],
    tensors: Mapping[str, Tensor],
) -> None:
    """Restore what :func:`optimizer_state` saved (other keys in ``tensors`` are ignored)."""
    entries: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            entries.setdefault(int(index), {})[name] = value
    for index, values in info["scalars"].items():
        entries.setdefault(int(index), {}).update(values)
    groups = []
    for group in info["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    optimizer.load_state_dict({"state": entries, "param_groups": groups})


def rng_state() -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Python's, NumPy's, torch's (and CUDA's) random states as JSON values and tensors."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    info = {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss},
        "numpy": {
            "kind": kind,
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }
    tensors = {
        "rng/torch": torch.get_rng_state(),
        "rng/numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
    }
    if info["cuda_devices"]:
        for i, value in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = value
    return info, tensors


def load_rng_state(info: Mapping[str, Any], tensors: Mapping[str, Tensor]) -> None:
    """Restore what :func:`rng_state` saved."""
    python = info["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss_next"]))
    numpy_info = info["numpy"]
    keys = tensors["rng/numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (
            numpy_info["kind"],
            keys,
            numpy_info["pos"],
            numpy_info["has_gauss"],
            numpy_info["cached_gaussian"],
        )
    )
    torch.set_rng_state(tensors["rng/torch"])
    cuda = sorted(k for k in tensors if k.startswith("rng/cuda/"))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[f"rng/cuda/{i}"] for i in range(len(cuda))])
