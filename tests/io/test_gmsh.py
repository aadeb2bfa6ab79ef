"""gmsh meshes (MSH 2.2 and 4.1) with physical groups, checked against gmsh's own answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meshfield.io import load_mesh

CASES = ["tri", "quad", "mixed", "tetra"]
EXPECTED_CELLS = {
    "tri": {"triangle"},
    "quad": {"quad"},
    "mixed": {"triangle", "quad"},
    "tetra": {"tetra"},
}


def _node_ids(pos: np.ndarray, points: np.ndarray) -> set[int]:
    """The nodes at gmsh's coordinates (float32 positions against gmsh's float64)."""
    from scipy.spatial import cKDTree

    distance, index = cKDTree(pos).query(np.asarray(points, dtype=np.float64))
    assert distance.max() < 1e-5
    return set(index.tolist())


def _nodes_of(data, name: str) -> np.ndarray:
    group = data.boundary_names.index(name)
    return np.flatnonzero(data.boundary.numpy() == group)


@pytest.mark.parametrize("version", ["msh22", "msh41"])
@pytest.mark.parametrize("name", CASES)
def test_counts_match_gmsh(gmsh_meshes, name: str, version: str) -> None:
    case = gmsh_meshes[name]
    data = load_mesh(getattr(case, version))
    assert data.pos.shape[0] == case.num_nodes
    assert data.edge_index.shape[1] == 2 * case.num_edges
    volume_or_face = {t for t in data.cells if t not in ("line", "vertex", "triangle")} | (
        {"triangle"} if name in ("tri", "mixed") else set()
    )
    assert volume_or_face == EXPECTED_CELLS[name]
    assert data.pos.shape[1] == (3 if name == "tetra" else 2)


@pytest.mark.parametrize("version", ["msh22", "msh41"])
@pytest.mark.parametrize("name", CASES)
def test_physical_groups_become_boundary_groups(gmsh_meshes, name: str, version: str) -> None:
    case = gmsh_meshes[name]
    data = load_mesh(getattr(case, version))
    assert data.boundary_names == ["interior", *case.boundary_groups]

    pos = data.pos.numpy().astype(np.float64)
    if pos.shape[1] == 2:
        pos = np.concatenate([pos, np.zeros((len(pos), 1))], axis=1)
    inlet = _nodes_of(data, "inlet")
    outlet = _nodes_of(data, "outlet")
    assert len(inlet) and np.all(pos[inlet, 0] == pos[:, 0].min())
    assert len(outlet) and np.all(pos[outlet, 0] == pos[:, 0].max())
    # every inlet node of gmsh is tagged inlet: the inlet is group 1, so it wins on corners
    gmsh_inlet = case.group_nodes["inlet"]
    assert len(inlet) == len(gmsh_inlet)
    assert set(inlet.tolist()) == _node_ids(pos, gmsh_inlet)
    gmsh_outlet = _node_ids(pos, case.group_nodes["outlet"])
    assert set(outlet.tolist()) == gmsh_outlet - _node_ids(pos, gmsh_inlet)
    # walls lose the nodes they share with inlet/outlet (smaller ids win)
    walls = _nodes_of(data, "walls")
    gmsh_walls = _node_ids(pos, case.group_nodes["walls"])
    assert set(walls.tolist()) == gmsh_walls - set(inlet.tolist()) - set(outlet.tolist())
    # interior nodes are on no group
    interior = data.boundary.numpy() == 0
    on_box = (
        (pos[:, 0] == 0)
        | (pos[:, 0] == 2 if name != "tetra" else pos[:, 0] == 1)
        | (pos[:, 1] == 0)
        | (pos[:, 1] == 1)
    )
    if name == "tetra":
        on_box |= (pos[:, 2] == 0) | (pos[:, 2] == 1)
    assert not np.any(interior & on_box)
    assert np.all(interior | on_box)


@pytest.mark.parametrize("name", CASES)
def test_both_msh_versions_give_the_same_graph(gmsh_meshes, name: str) -> None:
    case = gmsh_meshes[name]
    old, new = load_mesh(case.msh22), load_mesh(case.msh41)
    assert torch.equal(old.pos, new.pos)
    assert torch.equal(old.edge_index, new.edge_index)
    assert torch.equal(old.boundary, new.boundary)
    assert list(old.cells) == list(new.cells)


def test_boundary_line_cells_are_kept(gmsh_meshes) -> None:
    data = load_mesh(gmsh_meshes["tri"].msh41)
    assert "line" in data.cells
    ends = data.cells["line"].reshape(-1).unique()
    assert set(ends.tolist()) <= set(torch.nonzero(data.boundary).reshape(-1).tolist())


def test_bundled_cylinder_mesh() -> None:
    from pathlib import Path

    import meshfield

    path = Path(meshfield.__file__).parent / "assets" / "cylinder.msh"
    data = load_mesh(path)
    assert data.boundary_names == ["interior", "inlet", "outlet", "walls", "cylinder"]
    radius = data.pos.double().norm(dim=1)
    cylinder = data.boundary == data.boundary_names.index("cylinder")
    assert torch.allclose(radius[cylinder], torch.full_like(radius[cylinder], 0.5), atol=1e-6)
