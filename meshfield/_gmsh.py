"""One way to open a gmsh session, shared by everything in meshfield that meshes.

gmsh is a process-wide singleton: a helper that calls ``gmsh.finalize()`` while another part of
the program still uses gmsh breaks it. :func:`gmsh_session` initializes gmsh only when nobody
has, finalizes it only if it did, and otherwise just adds (and afterwards removes) its own model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from meshfield.errors import MissingDependencyError

__all__ = ["gmsh_session", "import_gmsh"]


def import_gmsh() -> Any:
    """The ``gmsh`` module, or :class:`~meshfield.errors.MissingDependencyError` with the fix."""
    try:
        import gmsh
    except ImportError as exc:
        msg = "making this mesh needs the gmsh Python package: pip install gmsh"
        raise MissingDependencyError(msg) from exc
    return gmsh


@contextmanager
def gmsh_session(model: str, *, threads: int = 1) -> Iterator[Any]:
    """A gmsh session with a fresh model, quiet and deterministic.

    Initializes gmsh when it is not yet (and finalizes it again on exit); otherwise adds a
    model to the running session and removes it on exit. Options are reset to gmsh's defaults
    on entry, since they are shared by the whole process.

    Parameters
    ----------
    model : str
        Name of the gmsh model.
    threads : int, default: 1
        Meshing threads; one keeps the mesh identical from run to run.

    Yields
    ------
    module
        The ``gmsh`` module, with the model current.
    """
    gmsh = import_gmsh()
    owner = not gmsh.isInitialized()
    if owner:
        # no signal handler: sessions may run in worker processes and threads
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        # options are global to the gmsh process: start every mesh from the defaults, so a
        # mesh never depends on what was meshed before it
        gmsh.option.restoreDefaults()
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", threads)
        gmsh.model.add(model)
        yield gmsh
    finally:
        if owner:
            gmsh.finalize()
        else:
            gmsh.model.remove()
