from __future__ import annotations

import numpy as np
import pytest

import meshfield.testing
from meshfield.data.keys import CELL_TYPES
from meshfield.testing.meshes import TinyMesh, tiny_meshes

MESHES = tiny_meshes()


def test_exported_lazily_from_meshfield_testing() -> None:
    assert meshfield.testing.tiny_meshes is tiny_meshes


@pytest.mark.parametrize("name", sorted(MESHES))
def test_structure(name: str) -> None:
    mesh = MESHES[name]
    assert isinstance(mesh, TinyMesh)
    pos, cells, num_edges, boundary = mesh  # unpacks as a 4-tuple
    assert pos.dtype == np.float64 and pos.ndim == 2 and pos.shape[1] in (2, 3)
    assert boundary.dtype == bool and boundary.shape == (len(pos),)
    assert isinstance(num_edges, int) and num_edges > 0
    used = np.zeros(len(pos), dtype=bool)
    for cell_type, conn in cells.items():
        k = (
            int(cell_type[len("polygon") :])
            if cell_type.startswith("polygon")
            else CELL_TYPES[cell_type]
        )
        assert conn.dtype == np.int64 and conn.ndim == 2 and conn.shape[1] == k
        used[conn.reshape(-1)] = True
    assert used.all(), "every node is in a cell"
    assert len(np.unique(pos, axis=0)) == len(pos), "no duplicate points"


def test_every_cell_type_appears() -> None:
    types = {t for mesh in MESHES.values() for t in mesh.cells}
    assert set(CELL_TYPES) - {"vertex"} <= types
    assert any(t.startswith("polygon") for t in types)


def test_fresh_arrays_on_every_call() -> None:
    first = tiny_meshes()["hexahedron"]
    first.pos[0, 0] = 99.0
    assert tiny_meshes()["hexahedron"].pos[0, 0] == 0.0


def test_answers_obey_euler_for_planar_meshes() -> None:
    # V - E + F = 1 for a mesh of a disk
    for name in ("two_triangles", "triangle_fan", "quad_grid_2x2", "tri_quad", "pentagon_triangle"):
        pos, cells, num_edges, _ = MESHES[name]
        faces = sum(len(c) for c in cells.values())
        assert len(pos) - num_edges + faces == 1, name


def test_answers_obey_euler_for_closed_surface() -> None:
    pos, cells, num_edges, boundary = MESHES["closed_surface"]
    assert len(pos) - num_edges + len(cells["triangle"]) == 2
    assert not boundary.any()
