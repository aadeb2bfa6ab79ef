"""Datasets on disk: one safetensors file per trajectory, read lazily as PyG data.

The layout is the one :func:`meshfield.cases.datagen.datagen` writes::

    DIR/spec.yaml                       the data spec the runs were made from
    DIR/index.json                      runs per split, conditions, field names and units
    DIR/<split>/<run_id>.safetensors    one run (:func:`meshfield.data.store.save_graph`)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Dataset

from meshfield.data.graph import MeshGraph
from meshfield.data.stats import Moments, safe_std
from meshfield.data.store import load_graph
from meshfield.errors import MeshFileNotFoundError, MeshFormatError, SpecError

__all__ = ["FieldStats", "MeshDataset", "compute_stats", "load_dataset"]

#: File name of the dataset index.
INDEX = "index.json"


def read_index(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``index.json`` of a dataset folder, or ``None`` when there is none yet."""
    path = Path(root) / INDEX
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        msg = f"{path}: corrupt dataset index ({exc}); rerun datagen to rewrite it"
        raise MeshFormatError(msg) from exc


def _split_files(
    folder: Path, split: str
) -> tuple[Path, dict[str, Any], list[str], list[Path]]:
    """The index, run ids and run files of one split of one dataset folder."""
    if not folder.is_dir():
        msg = f"{folder}: no such dataset folder"
        raise MeshFileNotFoundError(msg)
    index = read_index(folder) or {}
    if index:
        splits = index.get("splits", {})
        if split not in splits:
            msg = f"{folder}: split {split!r} not in the dataset (it has {list(splits)})"
            raise SpecError(msg)
        run_ids = list(splits[split])
        files = [folder / split / f"{run_id}.safetensors" for run_id in run_ids]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            msg = (
                f"{folder}: {len(missing)} run(s) of {split} listed in {INDEX} are missing, "
                f"e.g. {missing[0]}; rerun datagen to make them"
            )
            raise MeshFileNotFoundError(msg)
    else:
        files = sorted((folder / split).glob("*.safetensors"))
        if not files:
            msg = f"{folder}: no runs of split {split!r} (no {INDEX} and no files)"
            raise MeshFileNotFoundError(msg)
        run_ids = [f.stem for f in files]
    return folder, index, run_ids, files


class MeshDataset(Dataset):
    r"""The runs of one split of a generated dataset, as a PyG dataset.

    Each item is one trajectory, a :class:`~meshfield.data.MeshGraph` with ``fields``
    ``[T, N, C]``, ``times``, ``cond`` and the mesh, read from its file on access (nothing is
    held in memory). The runs are listed by ``index.json``; a folder still being generated
    (no index yet) is read from the files present.

    Several folders (for example the same case on meshes of different resolution) make one
    dataset of all their runs, in the order given; their fields and conditions must agree.

    Parameters
    ----------
    root : str or Path, or a sequence of them
        The dataset folder (``--out`` of ``meshfield datagen``), or several.
    split : str, default: "train"
        ``"train"``, ``"val"`` or ``"test"``.
    transform : callable, optional
        Applied to each graph on access (a PyG transform). default: none.

    Attributes
    ----------
    run_ids : list of str
        The run of each item (``<folder name>/<run>`` when there are several folders).
    field_names, field_units : list of str
        Channel names and their units (from the index; empty without one).
    cond_names : list of str
        Condition names.

    Example
    -------
    >>> from meshfield import load_dataset           # doctest: +SKIP
    >>> train = load_dataset("data/heat_plate")      # doctest: +SKIP
    >>> train[0].fields.shape                        # doctest: +SKIP
    torch.Size([51, 1517, 1])
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        split: str = "train",
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        roots = [root] if isinstance(root, str | os.PathLike) else list(root)
        if not roots:
            msg = "MeshDataset: expected at least one dataset folder (got none)"
            raise ValueError(msg)
        self.split = split
        parts = [_split_files(Path(r).expanduser(), split) for r in roots]
        first_folder, self.index, _, _ = parts[0]
        fields = self.index.get("fields", {})
        self.field_names: list[str] = list(fields.get("names", []))
        self.field_units: list[str] = list(fields.get("units", []))
        self.cond_names: list[str] = list(self.index.get("conditions", {}))
        self.files: list[Path] = []
        self.run_ids: list[str] = []
        for folder, index, run_ids, files in parts:
            names = list(index.get("fields", {}).get("names", []))
            conds = list(index.get("conditions", {}))
            if (names, conds) != (self.field_names, self.cond_names):
                msg = (
                    f"{folder}: fields {names} and conditions {conds} differ from those of "
                    f"{first_folder} ({self.field_names}, {self.cond_names}); datasets joined "
                    "into one must agree"
                )
                raise SpecError(msg)
            prefix = f"{folder.name}/" if len(parts) > 1 else ""
            self.run_ids.extend(prefix + run_id for run_id in run_ids)
            self.files.extend(files)
        self.roots = [folder for folder, *_ in parts]
        super().__init__(str(first_folder), transform)

    def len(self) -> int:
        return len(self.files)

    def get(self, idx: int) -> MeshGraph:
        return load_graph(self.files[idx])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r}, split={self.split!r}, runs={len(self)})"


def load_dataset(
    root: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    split: str = "train",
    transform: Callable[[Any], Any] | None = None,
) -> MeshDataset:
    """Open one split of a dataset made by ``meshfield datagen`` (or of several, joined).

    Parameters
    ----------
    root : str or Path, or a sequence of them
        The dataset folder, or several whose runs make one dataset.
    split : str, default: "train"
        ``"train"``, ``"val"`` or ``"test"``.
    transform : callable, optional
        Applied to each graph on access. default: none.

    Returns
    -------
    MeshDataset
        A :class:`torch_geometric.data.Dataset` of trajectories.
    """
    return MeshDataset(root, split=split, transform=transform)


@dataclass(frozen=True)
class FieldStats:
    """Per-channel mean and standard deviation of fields and conditions, for normalization.

    JSON-serializable (:meth:`to_dict`, :meth:`save`, :meth:`load`), so it is stored beside a
    checkpoint.

    Parameters
    ----------
    field_names : tuple of str
        Channel names ``C``.
    mean, std : tuple of float
        Per channel, over every node and time step of the runs.
    cond_names : tuple of str, default: ()
        Condition names ``K``.
    cond_mean, cond_std : tuple of float, default: ()
        Per condition, over the runs.
    count : int, default: 0
        Number of values per channel the statistics were computed from.
    """

    field_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    cond_names: tuple[str, ...] = ()
    cond_mean: tuple[float, ...] = ()
    cond_std: tuple[float, ...] = ()
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldStats:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the statistics as JSON."""
        from meshfield._files import write_atomic

        return write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FieldStats:
        """Read statistics written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def _scale(self, values: Sequence[float], like: Tensor) -> Tensor:
        # the divisor of meshfield.data.stats: a constant channel (std 0) is centred, not scaled
        return safe_std(torch.tensor(values, dtype=like.dtype, device=like.device))

    def normalize(self, fields: Tensor) -> Tensor:
        """``(fields - mean) / std`` per channel (last axis, ``C``).

        A standard deviation at or below :data:`~meshfield.data.stats.STD_FLOOR` (a constant
        channel) divides as 1 (:func:`~meshfield.data.stats.safe_std`), as in
        :class:`meshfield.models.Normalizer`.
        """
        mean = torch.tensor(self.mean, dtype=fields.dtype, device=fields.device)
        return (fields - mean) / self._scale(self.std, fields)

    def denormalize(self, fields: Tensor) -> Tensor:
        """Inverse of :meth:`normalize`."""
        mean = torch.tensor(self.mean, dtype=fields.dtype, device=fields.device)
        return fields * self._scale(self.std, fields) + mean

    def normalize_cond(self, cond: Tensor) -> Tensor:
        """``(cond - cond_mean) / cond_std`` per condition (last axis, ``K``)."""
        mean = torch.tensor(self.cond_mean, dtype=cond.dtype, device=cond.device)
        return (cond - mean) / self._scale(self.cond_std, cond)


def compute_stats(dataset: Iterable[Any]) -> FieldStats:
    r"""Per-channel mean and standard deviation of the fields of a dataset.

    Computed over every node and time step of every graph, in float64 with a pairwise
    (Chan et al.) merge of per-run summaries, so large offsets do not cancel; a constant
    channel gets ``std`` exactly 0. This is the algorithm of
    :meth:`meshfield.models.Normalizer.fit` (:class:`meshfield.data.stats.Moments`): both give
    the same mean and standard deviation from the same graphs. Pass the training split.

    Parameters
    ----------
    dataset : MeshDataset or iterable of MeshGraph
        Graphs with ``fields`` and the same ``field_names``.

    Returns
    -------
    FieldStats
        ``std`` is the population standard deviation, as computed (not floored; see
        :func:`meshfield.data.stats.safe_std` for the divisor).

    Raises
    ------
    MeshValidationError
        When the graphs have different field names or the dataset is empty.

    Shapes
    ------
    - **dataset[i].fields**: ``[T, N, C]``; **mean**, **std**: ``C`` values
    """
    from meshfield.errors import MeshValidationError

    names: list[str] | None = None
    fields = Moments(0)
    conds: Moments | None = None
    cond_names: list[str] = []
    num_graphs = with_cond = 0
    for graph in dataset:
        num_graphs += 1
        if names is None:
            names = list(graph.field_names)
            fields = Moments(graph.fields.shape[-1])
            cond_names = list(graph.get("cond_names") or [])
        elif list(graph.field_names) != names:
            msg = (
                f"field_names: expected the same channels in every graph, {names} "
                f"(got {list(graph.field_names)})"
            )
            raise MeshValidationError(msg)
        fields.add(graph.fields)
        if graph.get("cond") is not None:
            cond = torch.as_tensor(graph.cond).reshape(1, -1)  # one sample per run
            conds = conds if conds is not None else Moments(cond.size(-1))
            conds.add(cond)
            with_cond += 1
    if names is None:
        msg = "dataset: expected at least one graph to compute statistics from (got none)"
        raise MeshValidationError(msg)
    cond_mean: tuple[float, ...] = ()
    cond_std: tuple[float, ...] = ()
    if conds is not None and with_cond == num_graphs:  # conditions of every run, or none
        cond_mean = tuple(conds.mean.tolist())
        cond_std = tuple(conds.std.tolist())
    return FieldStats(
        field_names=tuple(names),
        mean=tuple(fields.mean.tolist()),
        std=tuple(v if math.isfinite(v) else 0.0 for v in fields.std.tolist()),
        cond_names=tuple(cond_names) if cond_mean else (),
        cond_mean=cond_mean,
        cond_std=cond_std,
        count=fields.count,
    )
