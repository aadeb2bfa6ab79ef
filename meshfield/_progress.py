"""The one progress bar of meshfield's long work (data generation, training, evaluation, ...).

Library calls show none unless asked (``progress=True``); the ``meshfield`` commands ask for
one unless ``--quiet``. Every bar is a :class:`tqdm.auto.tqdm` with the same options: it fits
the terminal's width and goes to standard error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    enabled: bool,
    desc: str,
    unit: str = "it",
    total: int | None = None,
    initial: int = 0,
    leave: bool = True,
) -> Any:
    """A progress bar over ``iterable`` (or one updated by hand), shown when ``enabled``.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate; default: none (call ``update`` on the bar).
    enabled : bool
        Show the bar; a disabled bar still iterates and counts.
    desc, unit : str
        Label and unit of the count.
    total : int, optional
        Expected count. default: ``len(iterable)`` where it has one.
    initial : int, default: 0
        Count already done (a resumed job).
    leave : bool, default: True
        Keep the finished bar on the terminal.

    Returns
    -------
    tqdm.auto.tqdm
    """
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        desc=desc,
        unit=unit,
        total=total,
        initial=initial,
        leave=leave,
        disable=not enabled,
        dynamic_ncols=True,
    )
