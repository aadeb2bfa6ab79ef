"""Unstructured triangle meshes of a rectangle made with gmsh, cached per mesh size."""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def rectangle(
    h: float, x0: float = 0.0, y0: float = 0.0, x1: float = 1.0, y1: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Frontal-Delaunay triangles of ``[x0, x1] x [y0, y1]`` with target size ``h``.

    Returns float64 ``pos [N, 2]`` and int64 ``triangles [M, 3]`` (only the nodes of triangles).
    """
    from meshfield._gmsh import gmsh_session

    with gmsh_session("rectangle") as gmsh:
        gmsh.option.setNumber("Mesh.Algorithm", 6)
        gmsh.option.setNumber("Mesh.MeshSizeMin", h)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.model.occ.addRectangle(x0, y0, 0.0, x1 - x0, y1 - y0)
        gmsh.model.occ.synchronize()
        gmsh.model.mesh.generate(2)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        types, _, nodes = gmsh.model.mesh.getElements(2)
        triangles = np.asarray(nodes[list(types).index(2)], dtype=np.int64).reshape(-1, 3)
        gmsh.model.remove()
    index = np.full(int(tags.max()) + 1, -1, dtype=np.int64)
    used = np.unique(triangles)
    index[used] = np.arange(len(used))
    lookup = {int(t): i for i, t in enumerate(tags)}
    xyz = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    pos = xyz[[lookup[int(t)] for t in used], :2]
    return pos, index[triangles]
