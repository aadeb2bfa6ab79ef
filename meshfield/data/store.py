"""One graph per file: :class:`~meshfield.data.MeshGraph` in safetensors.

A run of a dataset is one ``.safetensors`` file. Tensors are stored under their key
(``pos``, ``edge_index``, ``boundary``, ``fields``, ``times``, ``cond``, ...); dicts of tensors
under ``key/entry`` (``cells/triangle``, ``cell_fields/quad``). Everything else (name lists,
``z0``, ``grid_shape``, strings) goes into the file's metadata as JSON, with a checksum of the
tensor bytes and the metadata. Loading never unpickles; a truncated or modified file raises
:class:`~meshfield.errors.MeshFormatError` naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from meshfield._files import write_atomic
from meshfield.data.graph import MeshGraph
from meshfield.errors import MeshFileNotFoundError, MeshFormatError, MeshValidationError

__all__ = ["FORMAT", "load_graph", "read_metadata", "save_graph"]

#: The format tag written into every file's metadata.
FORMAT = "meshfield.graph"
_VERSION = 2
_META_KEY = "meshfield"
_JSON_TYPES = (str, int, float, bool, type(None))


def _json_value(key: str, value: Any) -> Any:
    """``value`` as JSON data, or raise naming ``key``."""
    if isinstance(value, _JSON_TYPES):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(key, v) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _json_value(key, v) for k, v in value.items()}
    msg = (
        f"{key}: cannot store a {type(value).__name__} in a graph file (expected a tensor, a "
        "dict of tensors, or str/int/float/bool/list/dict values)"
    )
    raise MeshValidationError(msg)


def _checksum(tensors: Mapping[str, Tensor], meta: Mapping[str, Any] | None = None) -> str:
    """Digest of the tensor bytes and (from format version 2 on) of the JSON attributes."""
    digest = hashlib.blake2b(digest_size=16)
    if meta is not None:
        described = {k: v for k, v in meta.items() if k != "checksum"}
        digest.update(json.dumps(described, sort_keys=True).encode())
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _flatten(data: Any) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors: dict[str, Tensor] = {}
    attrs: dict[str, Any] = {}
    tuples: list[str] = []
    dicts: dict[str, list[str]] = {}
    storages: set[int] = set()

    def put(name: str, tensor: Tensor) -> None:
        tensor = tensor.detach().cpu().contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        if tensor.numel() and pointer in storages:
            tensor = tensor.clone()  # safetensors refuses tensors that share memory
        storages.add(tensor.untyped_storage().data_ptr())
        tensors[name] = tensor

    for key in data.keys():  # noqa: SIM118 - Data.keys() is a method, not a dict view
        value = data[key]
        if "/" in key:
            msg = f"{key}: graph keys may not contain '/' (used for dict entries in the file)"
            raise MeshValidationError(msg)
        if isinstance(value, Tensor):
            put(key, value)
        elif (
            isinstance(value, Mapping)
            and value
            and all(isinstance(v, Tensor) for v in value.values())
        ):
            dicts[key] = [str(entry) for entry in value]
            for entry, tensor in value.items():
                put(f"{key}/{entry}", tensor)
        else:
            if isinstance(value, tuple):
                tuples.append(key)
            attrs[key] = _json_value(key, value)
    meta = {
        "format": FORMAT,
        "version": _VERSION,
        "attrs": attrs,
        "tuples": tuples,
        "dicts": dicts,
    }
    meta["checksum"] = _checksum(tensors, meta)
    return tensors, meta


def _verified(tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> bool:
    """Whether the stored checksum matches (version 1 files covered the tensors only)."""
    covered = meta if int(meta.get("version", 1)) >= 2 else None
    return _checksum(tensors, covered) == meta.get("checksum")


def save_graph(data: Any, path: str | os.PathLike[str]) -> Path:
    """Write a graph to one safetensors file, atomically.

    The file is written under a temporary name in the same folder and renamed over ``path``,
    so ``path`` either does not exist or holds a complete graph, even after a kill.

    Parameters
    ----------
    data : MeshGraph or torch_geometric.data.Data
        Any graph whose attributes are tensors, dicts of tensors (``cells``, ``cell_fields``)
        or JSON-like values (strings, numbers, lists, tuples, dicts).
    path : str or Path
        Output file (``.safetensors``); parent folders are created.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    MeshValidationError
        An attribute that cannot be stored (an object that is neither a tensor nor JSON-like).

    Example
    -------
    >>> import tempfile
    >>> from meshfield.data import mesh_graph
    >>> g = mesh_graph([[0, 0], [1, 0], [0, 1]], {"triangle": [[0, 1, 2]]})
    >>> path = save_graph(g, tempfile.mkdtemp() + "/g.safetensors")
    >>> load_graph(path).cells["triangle"].tolist()
    [[0, 1, 2]]
    """
    from safetensors.torch import save

    path = Path(path)
    tensors, meta = _flatten(data)
    payload = save(tensors, metadata={_META_KEY: json.dumps(meta)})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, payload)
    return path


def _open(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        msg = f"{path}: no such graph file"
        raise MeshFileNotFoundError(msg)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except SafetensorError as exc:
        msg = f"{path}: not a readable safetensors file, truncated or corrupt ({exc})"
        raise MeshFormatError(msg) from exc
    text = header.get(_META_KEY)
    if text is None:
        msg = f"{path}: a safetensors file without meshfield metadata (not written by save_graph)"
        raise MeshFormatError(msg)
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{path}: corrupt meshfield metadata ({exc})"
        raise MeshFormatError(msg) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        msg = f"{path}: expected meshfield metadata of format {FORMAT!r}"
        raise MeshFormatError(msg)
    if int(meta.get("version", 0)) > _VERSION:
        msg = (
            f"{path}: written by a newer meshfield (file format version {meta['version']}, "
            f"this one reads up to {_VERSION}); upgrade meshfield"
        )
        raise MeshFormatError(msg)
    return tensors, meta


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON attributes of a graph file (names, ``z0``, ...) without its checksum check.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save_graph`.

    Returns
    -------
    dict
        Attribute name -> value (``field_names``, ``cond_names``, ``boundary_names``, ...).
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except SafetensorError as exc:
        msg = f"{path}: not a readable safetensors file, truncated or corrupt ({exc})"
        raise MeshFormatError(msg) from exc
    try:
        meta = json.loads(header.get(_META_KEY, "null"))
    except json.JSONDecodeError as exc:
        msg = f"{path}: corrupt meshfield metadata ({exc})"
        raise MeshFormatError(msg) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        msg = f"{path}: expected meshfield metadata of format {FORMAT!r}"
        raise MeshFormatError(msg)
    return dict(meta["attrs"])


def load_graph(path: str | os.PathLike[str], *, verify: bool = True) -> MeshGraph:
    """Read a graph written by :func:`save_graph`.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` graph file.
    verify : bool, default: True
        Compare the checksum of the tensor bytes with the one stored at writing time.

    Returns
    -------
    MeshGraph
        The same attributes, tensors bit for bit, tuples as tuples.

    Raises
    ------
    MeshFileNotFoundError
        When the file does not exist.
    MeshFormatError
        A truncated, corrupt or modified file, or one not written by :func:`save_graph`.
    """
    path = Path(path)
    tensors, meta = _open(path)
    if verify and not _verified(tensors, meta):
        msg = (
            f"{path}: checksum mismatch, the data was modified or corrupted after "
            "writing; regenerate this file"
        )
        raise MeshFormatError(msg)
    out: dict[str, Any] = {}
    dicts = meta.get("dicts", {})
    for key, entries in dicts.items():
        missing = [e for e in entries if f"{key}/{e}" not in tensors]
        if missing:
            msg = f"{path}: {key}: entries {missing} are listed but not stored"
            raise MeshFormatError(msg)
        # the order of the entries as written (safetensors sorts tensor names)
        out[key] = {entry: tensors.pop(f"{key}/{entry}") for entry in entries}
    out.update(tensors)
    tuples = set(meta.get("tuples", []))
    for key, value in meta.get("attrs", {}).items():
        out[key] = tuple(value) if key in tuples else value
    return MeshGraph(**out)
