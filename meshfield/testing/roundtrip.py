"""``assert_roundtrip``: write a graph, read it back, demand the same graph."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["assert_roundtrip"]

_SINGLE_STEP = (".vtu", ".vtk", ".xdmf")


def _fail(path: Path, key: str, expected: Any, found: Any) -> None:
    msg = (
        f"round trip through {path.name}: {key} differs\n  written: {expected}\n  read:    {found}"
    )
    raise AssertionError(msg)


def _same_tensor(path: Path, key: str, expected: torch.Tensor, found: Any) -> None:
    if not isinstance(found, torch.Tensor):
        _fail(path, key, f"tensor {list(expected.shape)}", type(found).__name__)
    if expected.dtype != found.dtype or expected.shape != found.shape:
        _fail(
            path,
            key,
            f"{expected.dtype} {list(expected.shape)}",
            f"{found.dtype} {list(found.shape)}",
        )
    if not torch.equal(expected, found):
        count = int((expected != found).sum())
        _fail(path, key, f"{count} entries", "differ (compared exactly)")


def _has(data: Any, key: str) -> bool:
    return key in data and data[key] is not None


def assert_roundtrip(
    data: Any,
    path_or_suffix: str | os.PathLike[str],
    tmp_dir: str | os.PathLike[str] | None = None,
    *,
    step: int | None = None,
) -> Any:
    """Write ``data`` with :func:`meshfield.save`, read it back with :func:`meshfield.load_mesh`
    and assert that nothing changed.

    Compared exactly (bitwise for floats): ``pos``, ``cells`` (types, order, connectivity),
    ``edge_index``, ``boundary`` and ``boundary_names``, ``fields`` and ``field_names``,
    ``cell_fields`` and ``cell_field_names``, ``times``, ``cond`` and ``cond_names``. For the
    single-step formats (``.vtu``, ``.vtk``, ``.xdmf``) the written step is compared; ``.pvd``
    must give back every step.

    Parameters
    ----------
    data
        A :class:`~meshfield.data.MeshGraph`.
    path_or_suffix
        The file to write, or just a suffix such as ``".vtu"`` to write
        ``<tmp_dir>/roundtrip<suffix>``.
    tmp_dir
        Folder for the file when ``path_or_suffix`` is a suffix or a relative path.
        default: ``None`` (needed when a suffix is given)
    step
        Time step to write to a single-step format. default: ``None`` (the last)

    Returns
    -------
    MeshGraph
        The graph read back.

    Raises
    ------
    AssertionError
        Naming the first key that differs, what was written and what was read.

    Example
    -------
    >>> from meshfield.testing import assert_roundtrip
    >>> back = assert_roundtrip(data, ".pvd", tmp_path)  # doctest: +SKIP
    """
    import warnings

    from meshfield.io import load_mesh, save

    target = Path(os.fspath(path_or_suffix))
    if str(target).startswith(".") and target.suffix == "" and len(target.parts) == 1:
        # a bare suffix such as ".vtu" (Path(".vtu").suffix is empty)
        if tmp_dir is None:
            msg = "assert_roundtrip() needs tmp_dir when given only a suffix"
            raise ValueError(msg)
        target = Path(tmp_dir) / f"roundtrip{target.name}"
    elif tmp_dir is not None and not target.is_absolute():
        target = Path(tmp_dir) / target
    suffix = target.suffix.lower()
    with warnings.catch_warnings():
        # writing one step of several is what this check asks for
        warnings.simplefilter("ignore", UserWarning)
        written = save(data, target, step=step)
    back = load_mesh(written)

    single = suffix in _SINGLE_STEP
    steps = None
    if single and _has(data, "fields"):
        total = data.fields.shape[0]
        index = (total - 1 if step is None else step) % total
        steps = slice(index, index + 1)
    elif single and _has(data, "cell_fields") and data.cell_fields:
        total = next(iter(data.cell_fields.values())).shape[0]
        index = (total - 1 if step is None else step) % total
        steps = slice(index, index + 1)

    _same_tensor(target, "pos", data.pos, back.pos)
    expected_cells = {t: c for t, c in data.cells.items()}
    if list(expected_cells) != list(back.cells):
        _fail(target, "cells (types in order)", list(expected_cells), list(back.cells))
    for cell_type, conn in expected_cells.items():
        _same_tensor(target, f"cells[{cell_type!r}]", conn, back.cells[cell_type])
    _same_tensor(target, "edge_index", data.edge_index, back.edge_index)
    _same_tensor(target, "boundary", data.boundary, back.boundary)
    if list(data.boundary_names) != list(back.boundary_names):
        _fail(target, "boundary_names", list(data.boundary_names), list(back.boundary_names))

    for key, names_key in (("fields", "field_names"), ("cond", "cond_names")):
        if _has(data, key) != _has(back, key):
            _fail(target, key, _has(data, key) and "present", _has(back, key) and "present")
        if not _has(data, key):
            continue
        expected = data[key][steps] if key == "fields" and steps is not None else data[key]
        _same_tensor(target, key, expected, back[key])
        if list(data[names_key]) != list(back[names_key]):
            _fail(target, names_key, list(data[names_key]), list(back[names_key]))

    if _has(data, "times") and (_has(data, "fields") or _has(data, "cell_fields")):
        expected = data.times[steps] if steps is not None else data.times
        _same_tensor(target, "times", expected, back.times if _has(back, "times") else None)

    expected_cf = data.cell_fields if _has(data, "cell_fields") else {}
    found_cf = back.cell_fields if _has(back, "cell_fields") else {}
    if list(expected_cf) != list(found_cf):
        _fail(target, "cell_fields (cell types)", list(expected_cf), list(found_cf))
    for cell_type, values in expected_cf.items():
        expected = values[steps] if steps is not None else values
        _same_tensor(target, f"cell_fields[{cell_type!r}]", expected, found_cf[cell_type])
    if expected_cf and list(data.cell_field_names) != list(back.cell_field_names):
        _fail(target, "cell_field_names", list(data.cell_field_names), list(back.cell_field_names))
    return back
