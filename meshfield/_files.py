"""File permissions of what meshfield writes through private temporaries.

Atomic writes go to a temporary file or folder first (``tempfile.mkstemp``/``mkdtemp``, which
create them readable by their owner only, as does safetensors) and are renamed into place.
:func:`usual_permissions` gives them what a plain ``open(..., "w")`` or ``mkdir`` would have
given under the process's umask, so results and checkpoints can be shared.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["usual_permissions", "write_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def usual_permissions(path: str | os.PathLike[str], *, recursive: bool = False) -> None:
    """Set ``path`` to ``0o666`` (files) or ``0o777`` (folders) minus the umask.

    Parameters
    ----------
    path : str or path-like
        A file or folder.
    recursive : bool, default: False
        Also everything inside a folder.
    """
    path = Path(path)
    mask = _umask()
    paths = [path, *path.rglob("*")] if recursive and path.is_dir() else [path]
    for entry in paths:
        os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~mask)


def write_atomic(path: str | os.PathLike[str], payload: bytes | str) -> Path:
    """Write ``payload`` to ``path`` through a temporary file beside it and a rename.

    A reader sees the old file or the new one, never a part; the file is flushed to disk
    before the rename, and gets :func:`usual_permissions`.

    Parameters
    ----------
    path : str or path-like
        The target file; its folder must exist.
    payload : bytes or str
        The content (a string is written as UTF-8).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        usual_permissions(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
