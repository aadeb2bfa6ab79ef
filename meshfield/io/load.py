"""``load_mesh``: one entry point for every mesh source meshfield reads."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from meshfield.errors import MeshFileNotFoundError, MeshFormatError
from meshfield.io._raw import RawMesh, build_graph

__all__ = ["load_mesh", "supported_suffixes"]

_PVD = ".pvd"
_FOAM = ".foam"


def supported_suffixes() -> list[str]:
    """Every file suffix :func:`load_mesh` reads, sorted."""
    from meshfield.io._meshio import meshio_formats
    from meshfield.io._pyvista import VTK_SUFFIXES

    return sorted({*meshio_formats(), *VTK_SUFFIXES, _PVD, _FOAM, GRAPH_SUFFIX})


def _suffix(path: Path, known: Mapping[str, Any]) -> str:
    # two-part suffixes first (".vol.gz", ".dato.gz")
    double = "".join(path.suffixes[-2:]).lower()
    return double if double in known else path.suffix.lower()


def _read_path(path: Path, *, block: int | str | None, cell_to_point: bool) -> list[RawMesh]:
    from meshfield.io._meshio import meshio_formats, read_meshio_file
    from meshfield.io._pyvista import VTK_SUFFIXES, read_pvd, read_vtk_file
    from meshfield.io.openfoam import is_openfoam_case, read_openfoam_steps

    if not path.exists():
        msg = f"Mesh file not found: {path}"
        raise MeshFileNotFoundError(msg)
    if is_openfoam_case(path):
        return read_openfoam_steps(path, cell_to_point=cell_to_point)
    if path.is_dir():
        msg = (
            f"{path} is a folder but not an OpenFOAM case (no system/controlDict); pass a mesh "
            "file, a list of files or a case folder"
        )
        raise MeshFormatError(msg)
    formats = meshio_formats()
    suffix = _suffix(path, formats)
    if suffix == _PVD:
        return read_pvd(path, block=block)
    if suffix in VTK_SUFFIXES:
        try:
            return [read_vtk_file(path, block=block)]
        except ImportError:
            if suffix not in formats:
                raise
            # without PyVista, meshio reads .vtu/.vtk too (without meshfield's field data)
    if suffix in formats:
        return [read_meshio_file(path, formats[suffix])]
    msg = (
        f"Unknown mesh file extension {path.suffix!r} of {path}; supported: "
        f"{', '.join(supported_suffixes())}, or an OpenFOAM case folder"
    )
    raise MeshFormatError(msg)


def _read_object(source: Any, *, block: int | str | None, cell_to_point: bool) -> list[RawMesh]:
    module = type(source).__module__
    if isinstance(source, (str, os.PathLike)):
        return _read_path(
            Path(os.fspath(source)).expanduser(), block=block, cell_to_point=cell_to_point
        )
    if module.startswith("pyvista"):
        from meshfield.io._pyvista import from_pyvista

        return [from_pyvista(source, block=block)]
    if module.startswith("meshio"):
        from meshfield.io._meshio import from_meshio

        return [from_meshio(source)]
    if module.startswith("trimesh"):
        from meshfield.io._trimesh import from_trimesh

        return [from_trimesh(source)]
    msg = (
        f"Cannot read a mesh from a {type(source).__name__}; expected a path, a list of paths "
        "(time series), a pyvista.DataSet or MultiBlock, a meshio.Mesh or a trimesh.Trimesh"
    )
    raise MeshFormatError(msg)


def load_mesh(
    source: Any,
    *,
    fields: Sequence[str] | None = None,
    cell_to_point: bool = False,
    cond: Mapping[str, float] | None = None,
    block: int | str | None = None,
    times: Sequence[float] | None = None,
) -> Any:
    """Read a mesh, a time series or an OpenFOAM case as a :class:`~meshfield.data.MeshGraph`.

    Boundary groups come from the source when it has them: gmsh physical groups on the
    boundary elements, OpenFOAM patches, or the ``boundary`` array of files meshfield wrote.
    Otherwise the boundary is detected from the topology (faces that belong to one cell).

    Parameters
    ----------
    source
        One of

        - a path to a file meshio reads (``.msh`` gmsh 2.2 and 4.1, ``.xdmf``, ``.obj``,
          ``.stl``, ``.ply``, ``.off``, ``.med``, ``.inp``, ...) or VTK reads (``.vtu``,
          ``.vtk``, ``.vtp``, ``.vts``, ``.vtr``, ``.vti``);
        - a ``.pvd`` collection (a time series);
        - a ``.safetensors`` graph file meshfield wrote (a dataset run of ``meshfield
          datagen``), read as it was saved;
        - an OpenFOAM case folder (with ``system/controlDict``) or a ``.foam`` file in it; a
          2D case (one cell thick, ``empty`` front and back) reads as the 2D mesh of its back
          face (:func:`meshfield.io.openfoam.read_planar`), with every point field;
        - a list of paths or objects sharing one mesh: one time step each;
        - a ``pyvista.DataSet`` or ``MultiBlock``, a ``meshio.Mesh``, a ``trimesh.Trimesh``.
    fields
        Keep only these fields, by array name (``"U"``) or channel name (``"U_x"``).
        default: ``None`` (all)
    cell_to_point
        Average cell data onto the nodes instead of keeping it in ``cell_fields``.
        default: ``False``
    cond
        Global physical conditions, e.g. ``{"Re": 100.0}``; they override conditions stored in
        the file. default: ``None``
    block
        Name or index of the block to read from a MultiBlock (or a multi-block file).
        default: ``None`` (the only non-empty block; an error lists them if there are several)
    times
        The time of each step. default: ``None`` (the times stored in the source, if any)

    Returns
    -------
    MeshGraph
        ``pos``, ``cells``, ``edge_index``, ``boundary``, ``boundary_names`` and, when present,
        ``fields`` / ``field_names`` / ``times``, ``cell_fields`` / ``cell_field_names`` and
        ``cond`` / ``cond_names``.

    Shapes
    ------
    ``pos [N, 2|3]``, ``edge_index [2, E]``, ``boundary [N]``, ``fields [T, N, C]``,
    ``times [T]``, ``cond [K]``.

    Raises
    ------
    MeshFileNotFoundError
        If a path does not exist.
    MeshFormatError
        If the extension is unknown or the file cannot be parsed.
    MeshValidationError
        If the content is wrong (empty mesh, non-finite coordinates, cell indices out of range,
        a field whose length matches neither points nor cells, volume cells on planar points,
        time steps on different meshes).
    MissingDependencyError
        If the source needs PyVista or trimesh and it is not installed.

    Example
    -------
    >>> import meshfield
    >>> data = meshfield.load_mesh("cylinder.msh", cond={"Re": 100.0})  # doctest: +SKIP
    >>> data.boundary_names  # doctest: +SKIP
    ['interior', 'inlet', 'outlet', 'walls', 'cylinder']
    """
    if isinstance(source, (str, os.PathLike)) and str(source).endswith(GRAPH_SUFFIX):
        return _load_graph_file(Path(os.fspath(source)).expanduser(), fields, block, times, cond)
    if isinstance(source, (str, os.PathLike)) and _is_case(source):
        from meshfield.io.openfoam import is_planar_case, read_planar

        case = Path(os.fspath(source)).expanduser()
        case = case.parent if case.is_file() else case
        if is_planar_case(case):
            # one cell thick with empty front and back: the 2D mesh of its back face
            return read_planar(case, fields=None if fields is None else list(fields),
                               cond=cond, times=times)
    if isinstance(source, (list, tuple)):
        if not source:
            msg = "load_mesh() got an empty list of time steps"
            raise MeshFormatError(msg)
        steps = []
        for item in source:
            found = _read_object(item, block=block, cell_to_point=cell_to_point)
            if len(found) != 1:
                msg = f"{item}: each entry of a time-series list must hold one time step"
                raise MeshFormatError(msg)
            steps.extend(found)
    else:
        steps = _read_object(source, block=block, cell_to_point=cell_to_point)
    openfoam = isinstance(source, (str, os.PathLike)) and _is_case(source)
    return build_graph(
        steps,
        fields=fields,
        # the OpenFOAM reader already made point fields; its cell values stay on the cells
        cell_to_point=False if openfoam else cell_to_point,
        cond=cond,
        times=times,
    )


def _is_case(source: str | os.PathLike[str]) -> bool:
    from meshfield.io.openfoam import is_openfoam_case

    return is_openfoam_case(Path(os.fspath(source)).expanduser())


#: suffix of the graph files of :func:`meshfield.data.save_graph` (dataset runs)
GRAPH_SUFFIX = ".safetensors"


def _load_graph_file(
    path: Path,
    fields: Sequence[str] | None,
    block: int | str | None,
    times: Sequence[float] | None,
    cond: Mapping[str, float] | None,
) -> Any:
    """A graph file of :func:`meshfield.data.save_graph`, conditions overridden by ``cond``."""
    import torch

    from meshfield.data.store import load_graph

    unsupported = [name for name, value in (("fields", fields), ("block", block),
                                            ("times", times)) if value is not None]
    if unsupported:
        msg = (
            f"{path} is a meshfield graph file, read as it was saved; load_mesh() options "
            f"{unsupported} do not apply to it"
        )
        raise MeshFormatError(msg)
    if not path.is_file():
        msg = f"Mesh file not found: {path}"
        raise MeshFileNotFoundError(msg)
    graph = load_graph(path)
    if cond:
        stored = dict(zip(graph.get("cond_names") or (), graph.cond.tolist(), strict=True)) \
            if graph.get("cond") is not None else {}
        stored.update({str(k): float(v) for k, v in cond.items()})
        graph.cond = torch.tensor(list(stored.values()), dtype=torch.float32)
        graph.cond_names = list(stored)
    return graph
