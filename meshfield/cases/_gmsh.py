"""Shared gmsh helpers for the cases: a session and the mesh as arrays with named boundaries.

Use in a case module::

    from meshfield.cases._gmsh import gmsh_session, mesh_arrays

    with gmsh_session("plate") as gmsh:
        ...  # build the geometry with gmsh.model.occ, add named physical groups of dim - 1
        gmsh.model.mesh.generate(2)
        points, cells, boundary, names = mesh_arrays(["left", "holes", "right"], dim=2)

``mesh_arrays`` numbers the nodes used by the cells of dimension ``dim`` in the order of their
gmsh tags and tags each node with the first listed physical group (of dimension ``dim - 1``)
that contains it, so list the groups whose boundary values must win at shared corners first.
The result feeds :func:`meshfield.data.mesh_graph` directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from meshfield._gmsh import gmsh_session, import_gmsh
from meshfield.errors import MeshValidationError

__all__ = ["GMSH_CELL_TYPES", "gmsh_session", "mesh_arrays"]

#: gmsh element type -> meshio cell type, for the first-order elements.
GMSH_CELL_TYPES: dict[int, str] = {
    1: "line",
    2: "triangle",
    3: "quad",
    4: "tetra",
    5: "hexahedron",
    6: "wedge",
    7: "pyramid",
}


def mesh_arrays(
    groups: Sequence[str], *, dim: int = 2
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, list[str]]:
    """The current gmsh mesh as points, cells and named boundary tags.

    Parameters
    ----------
    groups : list of str
        Names of physical groups of dimension ``dim - 1``, in priority order: a node on
        several groups gets the first one listed. Groups not listed are ignored.
    dim : int, default: 2
        Dimension of the cells to return.

    Returns
    -------
    points : numpy.ndarray
        float64 ``[N, 3]``.
    cells : dict
        meshio cell type -> int64 ``[n_cells, k]``, renumbered to ``0 .. N - 1``.
    boundary : numpy.ndarray
        int64 ``[N]``: 0 inside, ``g`` on ``groups[g - 1]``.
    names : list of str
        ``["interior", *groups]``.

    Raises
    ------
    MeshValidationError
        When a listed group does not exist or the mesh has no cells of dimension ``dim``.
    """
    gmsh = import_gmsh()
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    node_tags = np.asarray(node_tags, dtype=np.int64)

    blocks: dict[str, np.ndarray] = {}
    for element_type in gmsh.model.mesh.getElementTypes(dim=dim):
        name = GMSH_CELL_TYPES.get(int(element_type))
        if name is None:
            msg = f"gmsh element type {element_type} is not a first-order cell meshfield reads"
            raise MeshValidationError(msg)
        _, element_nodes = gmsh.model.mesh.getElementsByType(element_type)
        k = int(gmsh.model.mesh.getElementProperties(element_type)[3])
        blocks[name] = np.asarray(element_nodes, dtype=np.int64).reshape(-1, k)
    if not blocks:
        msg = f"the gmsh model has no cells of dimension {dim}; generate the mesh first"
        raise MeshValidationError(msg)

    # keep the nodes the cells use, in tag order
    used = np.unique(np.concatenate([b.reshape(-1) for b in blocks.values()]))
    lookup = np.full(int(max(node_tags.max(), used.max())) + 1, -1, dtype=np.int64)
    lookup[used] = np.arange(len(used))
    by_tag = np.empty((lookup.shape[0], 3))
    by_tag[node_tags] = coords
    points = by_tag[used]
    cells = {name: lookup[b] for name, b in blocks.items()}

    physical = {
        gmsh.model.getPhysicalName(d, tag): tag
        for d, tag in gmsh.model.getPhysicalGroups(dim=dim - 1)
    }
    boundary = np.zeros(len(used), dtype=np.int64)
    for group in range(len(groups), 0, -1):  # descending, so the first listed wins
        name = groups[group - 1]
        if name not in physical:
            msg = (
                f"gmsh model: no physical group {name!r} of dimension {dim - 1} ({list(physical)})"
            )
            raise MeshValidationError(msg)
        tags = np.asarray(gmsh.model.mesh.getNodesForPhysicalGroup(dim - 1, physical[name])[0])
        nodes = lookup[tags.astype(np.int64)]
        boundary[nodes[nodes >= 0]] = group
    return points, cells, boundary, ["interior", *groups]
