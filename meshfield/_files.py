"""Atomic writes: the one place meshfield writes files and folders through temporaries.

Every file or folder meshfield writes goes to a temporary beside its target first (same
folder, so the final rename is atomic), is flushed to disk, gets the usual permissions and is
renamed into place. A reader, or a run that resumes after a kill, sees the old version or the
new one, never a part; a writer that fails leaves the target as it was and no temporary behind.

- :func:`write_atomic` writes bytes or text;
- :func:`atomic_path` hands a temporary path to a writer that wants one (safetensors'
  ``save_file``, pyvista's ``save``, gmsh, h5py);
- :func:`atomic_files` does the same for files that must be written under their final names
  side by side (an ``.xdmf`` and the ``.h5`` it names), then replaces each in turn;
- :func:`atomic_folder` hands a staging folder to fill and swaps it in for the target folder
  (checkpoints: several files that belong together).

Temporaries come from ``tempfile.mkstemp``/``mkdtemp``, which create them readable by their owner
only (as does safetensors); :func:`usual_permissions` gives them what a plain ``open(..., "w")``
or ``mkdir`` would have given under the process's umask, so results and checkpoints can be
shared. :func:`sha256` is the checksum that checkpoints record for their weights.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_files",
    "atomic_folder",
    "atomic_path",
    "sha256",
    "usual_permissions",
    "write_atomic",
]


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


def sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex digits (read in blocks of 1 MiB).

    Parameters
    ----------
    path : str or path-like
        A file.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Flush a folder's entries (the renames in it) to disk, where the system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _commit(tmp: Path, target: Path) -> None:
    """Flush ``tmp``, give it the usual permissions and rename it onto ``target``."""
    _fsync_file(tmp)
    usual_permissions(tmp)
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """A temporary file beside ``target`` for a writer to fill; renamed onto ``target`` at the end.

    On a normal exit of the ``with`` block the temporary is flushed to disk, gets
    :func:`usual_permissions` (also before the block: some writers keep the mode they find)
    and replaces ``target`` in one rename. On an exception it is removed and ``target`` is left
    as it was.

    Parameters
    ----------
    target : str or path-like
        The file to create or replace; its folder must exist.
    suffix : str, optional
        Ending of the temporary's name, for writers that pick the format by it.
        default: ``target``'s suffix (``".tmp"`` if it has none)

    Yields
    ------
    pathlib.Path
        The temporary file (it exists, empty).

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(target)
    if suffix is None:
        suffix = target.suffix or ".tmp"
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        usual_permissions(tmp)
        yield tmp
        _commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], payload: bytes | str) -> Path:
    """Write ``payload`` to ``path`` through a temporary file beside it and a rename.

    A reader sees the old file or the new one, never a part; the file is flushed to disk
    before the rename, and gets :func:`usual_permissions` (:func:`atomic_path`).

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
    with atomic_path(path, suffix=".tmp") as tmp, tmp.open("wb") as f:
        f.write(data)
    return path


@contextmanager
def atomic_files(*targets: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """Temporaries with the targets' own names, in a private folder beside them.

    For writers that write several files which refer to each other by name (an ``.xdmf`` and
    its ``.h5``). On a normal exit each file is flushed, gets :func:`usual_permissions` and
    replaces its target in one rename, in the order given (so put the file that names the
    others last); then the private folder is removed. Each target is replaced atomically, the
    set is not. On an exception the folder is removed and every target is left as it was.

    Parameters
    ----------
    *targets : str or path-like
        The files to create or replace, all in one existing folder, with distinct names.

    Yields
    ------
    list of pathlib.Path
        Where to write each target (not created).
    """
    paths = [Path(t) for t in targets]
    if not paths:
        msg = "atomic_files needs at least one target"
        raise ValueError(msg)
    parent = paths[0].parent
    if any(p.parent != parent for p in paths) or len({p.name for p in paths}) != len(paths):
        msg = f"atomic_files needs distinct targets in one folder, got {[str(p) for p in paths]}"
        raise ValueError(msg)
    folder = Path(tempfile.mkdtemp(prefix=f".{paths[0].name}.", suffix=".tmp", dir=parent))
    try:
        temps = [folder / p.name for p in paths]
        yield temps
        for tmp, target in zip(temps, paths, strict=True):
            _commit(tmp, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    """Flush every file under ``folder``, then the folders themselves, deepest first."""
    folders = [folder]
    for entry in folder.rglob("*"):
        if entry.is_symlink():
            continue
        if entry.is_dir():
            folders.append(entry)
        elif entry.is_file():
            _fsync_file(entry)
    for entry in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        _fsync_dir(entry)


def _swap_in(staging: Path, target: Path, old: Path | None) -> None:
    """Rename ``staging`` onto ``target``; a ``target`` already there goes aside to ``old``."""
    if old is None:
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        old.rmdir()
    moved = False
    if target.exists() or target.is_symlink():
        _remove(old)  # a backup left by an earlier interrupted swap: target is whole now
        os.rename(target, old)
        moved = True
    try:
        os.rename(staging, target)
    except BaseException:
        if moved:
            os.rename(old, target)  # put the previous one back
        raise
    _fsync_dir(target.parent)
    _remove(old)


@contextmanager
def atomic_folder(
    target: str | os.PathLike[str],
    *,
    staging: str | os.PathLike[str] | None = None,
    old: str | os.PathLike[str] | None = None,
) -> Iterator[Path]:
    """A staging folder beside ``target`` to fill; swapped in for ``target`` at the end.

    On a normal exit of the ``with`` block every file in the staging folder is flushed to
    disk, everything in it gets :func:`usual_permissions`, and it takes ``target``'s place: a
    ``target`` already there is renamed aside to ``old``, the staging folder is renamed to
    ``target`` (if that fails, the old one is renamed back), and ``old`` is removed. A kill
    between the two renames leaves the previous folder whole under ``old``. On an exception
    the staging folder is removed and ``target`` is left as it was.

    Parameters
    ----------
    target : str or path-like
        The folder to create or replace; its parent must exist.
    staging : str or path-like, optional
        A fixed staging folder (in ``target``'s parent), removed first if a killed write left
        it behind. default: a new private one (``tempfile.mkdtemp``) beside ``target``
    old : str or path-like, optional
        A fixed name (in ``target``'s parent) for the previous folder while it is swapped out,
        so that a reader can fall back to it after a kill; one left behind by an earlier
        kill is removed once ``target`` is whole again. default: a new unused name
        beside ``target``

    Yields
    ------
    pathlib.Path
        The staging folder (it exists, empty).

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "run"
    >>> with atomic_folder(target) as staging:
    ...     _ = (staging / "a.json").write_text("{}")
    ...     _ = (staging / "b.json").write_text("[]")
    >>> sorted(p.name for p in target.iterdir())
    ['a.json', 'b.json']
    """
    target = Path(target)
    if staging is None:
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    else:
        folder = Path(staging)
        _remove(folder)
        folder.mkdir()
    try:
        yield folder
        usual_permissions(folder, recursive=True)
        _sync_tree(folder)
        _swap_in(folder, target, None if old is None else Path(old))
    except BaseException:
        _remove(folder)
        raise
