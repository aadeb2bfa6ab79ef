"""Real meshes for the locality tests: gmsh-generated triangle and tetrahedron meshes."""

from __future__ import annotations

import numpy as np
import torch


def unique_edges(cells: np.ndarray) -> torch.Tensor:
    """Undirected edges ``[2, E]`` (each once) of simplex cells ``[n_cells, k]``."""
    k = cells.shape[1]
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    edges = np.concatenate([cells[:, [a, b]] for a, b in pairs])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    return torch.from_numpy(np.ascontiguousarray(edges.T)).long()


def _gmsh_mesh(build, dim: int, size: float) -> tuple[torch.Tensor, torch.Tensor]:
    from meshfield._gmsh import gmsh_session

    with gmsh_session("mesh") as gmsh:
        build(gmsh.model.occ)
        gmsh.model.occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", size)
        gmsh.model.mesh.generate(dim)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        _, _, nodes = gmsh.model.mesh.getElements(dim)
    number = np.zeros(int(tags.max()) + 1, dtype=np.int64)
    number[tags.astype(np.int64)] = np.arange(tags.size)
    cells = number[nodes[0].astype(np.int64)].reshape(-1, dim + 1)
    pos = torch.from_numpy(coords.reshape(-1, 3)[:, :dim].copy())
    return pos, unique_edges(cells)


def plate_with_hole(size: float = 0.02) -> tuple[torch.Tensor, torch.Tensor]:
    """Unstructured triangles on a 2 x 1 plate with a hole of radius 0.2 (~5.7k nodes)."""

    def build(occ) -> None:
        plate = occ.addRectangle(0, 0, 0, 2, 1)
        hole = occ.addDisk(0.6, 0.5, 0, 0.2, 0.2)
        occ.cut([(2, plate)], [(2, hole)])

    return _gmsh_mesh(build, 2, size)


def box_with_cavity(size: float = 0.08) -> tuple[torch.Tensor, torch.Tensor]:
    """Unstructured tetrahedra in a unit box with a spherical cavity (~2.3k nodes)."""

    def build(occ) -> None:
        box = occ.addBox(0, 0, 0, 1, 1, 1)
        ball = occ.addSphere(0.5, 0.5, 0.5, 0.25)
        occ.cut([(3, box)], [(3, ball)])

    return _gmsh_mesh(build, 3, size)
