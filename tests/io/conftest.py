"""Meshes made at test time: gmsh meshes with physical groups and a tiny OpenFOAM case.

Each gmsh fixture returns the file paths (MSH 2.2 and 4.1) and the answers gmsh itself gives:
node count, unique edge count, and the coordinates of the nodes of each physical group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gmsh
import numpy as np
import pytest
from pyvista import examples

from meshfield._gmsh import gmsh_session


@dataclass
class GmshCase:
    """A mesh gmsh wrote, with what gmsh says about it."""

    msh22: Path
    msh41: Path
    num_nodes: int
    num_edges: int
    #: physical group name -> coordinates [n, 3] of its nodes (from gmsh)
    group_nodes: dict[str, np.ndarray] = field(default_factory=dict)
    #: physical group names of the boundary, in order of their tags
    boundary_groups: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def _gmsh_session() -> Iterator[None]:
    with gmsh_session("io-tests"):
        yield


def _finish(
    name: str, folder: Path, dim: int, groups: dict[str, tuple[int, list[int]]]
) -> GmshCase:
    """Mesh the current model, write both MSH versions and record gmsh's own answers."""
    for group_name, (group_dim, tags) in groups.items():
        tag = gmsh.model.addPhysicalGroup(group_dim, tags)
        gmsh.model.setPhysicalName(group_dim, tag, group_name)
    gmsh.model.mesh.generate(dim)
    paths = {}
    for version in (2.2, 4.1):
        gmsh.option.setNumber("Mesh.MshFileVersion", version)
        path = folder / f"{name}_{str(version).replace('.', '')}.msh"
        gmsh.write(str(path))
        paths[version] = path
    node_tags, _, _ = gmsh.model.mesh.getNodes()
    gmsh.model.mesh.createEdges()
    edge_tags, _ = gmsh.model.mesh.getAllEdges()
    group_nodes = {}
    for group_name, (group_dim, tags) in groups.items():
        coords = []
        for tag in tags:
            _, xyz, _ = gmsh.model.mesh.getNodes(group_dim, tag, includeBoundary=True)
            coords.append(np.asarray(xyz).reshape(-1, 3))
        group_nodes[group_name] = np.unique(np.concatenate(coords), axis=0)
    boundary = [n for n, (d, _) in groups.items() if d < dim]
    gmsh.model.remove()
    return GmshCase(
        msh22=paths[2.2],
        msh41=paths[4.1],
        num_nodes=len(node_tags),
        num_edges=len(edge_tags),
        group_nodes=group_nodes,
        boundary_groups=boundary,
    )


def _rectangle(x0: float, x1: float, size: float) -> tuple[int, list[int]]:
    """A geo-kernel rectangle [x0, x1] x [0, 1]; returns (surface, [bottom, right, top, left])."""
    geo = gmsh.model.geo
    p = [geo.addPoint(x, y, 0, size) for x, y in ((x0, 0), (x1, 0), (x1, 1), (x0, 1))]
    lines = [geo.addLine(p[i], p[(i + 1) % 4]) for i in range(4)]
    loop = geo.addCurveLoop(lines)
    return geo.addPlaneSurface([loop]), lines


@pytest.fixture(scope="session")
def gmsh_meshes(
    _gmsh_session: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, GmshCase]:
    """Four small meshes: 2D triangles, 2D quads, 3D tetrahedra, 2D triangles + quads."""
    folder = tmp_path_factory.mktemp("gmsh")
    cases = {}

    gmsh.model.add("tri")
    surface, (bottom, right, top, left) = _rectangle(0.0, 2.0, 0.3)
    gmsh.model.geo.synchronize()
    cases["tri"] = _finish(
        "tri",
        folder,
        2,
        {
            "inlet": (1, [left]),
            "outlet": (1, [right]),
            "walls": (1, [bottom, top]),
            "fluid": (2, [surface]),
        },
    )

    gmsh.model.add("quad")
    surface, (bottom, right, top, left) = _rectangle(0.0, 2.0, 0.25)
    gmsh.model.geo.synchronize()
    gmsh.model.mesh.setRecombine(2, surface)
    cases["quad"] = _finish(
        "quad",
        folder,
        2,
        {
            "inlet": (1, [left]),
            "outlet": (1, [right]),
            "walls": (1, [bottom, top]),
            "fluid": (2, [surface]),
        },
    )

    gmsh.model.add("mixed")
    geo = gmsh.model.geo
    size = 0.3
    p = [geo.addPoint(x, y, 0, size) for x, y in ((0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1))]
    l_bottom_a, l_bottom_b = geo.addLine(p[0], p[1]), geo.addLine(p[1], p[2])
    l_right = geo.addLine(p[2], p[3])
    l_top_b, l_top_a = geo.addLine(p[3], p[4]), geo.addLine(p[4], p[5])
    l_left = geo.addLine(p[5], p[0])
    l_mid = geo.addLine(p[1], p[4])
    left_surface = geo.addPlaneSurface([geo.addCurveLoop([l_bottom_a, l_mid, l_top_a, l_left])])
    right_surface = geo.addPlaneSurface([geo.addCurveLoop([l_bottom_b, l_right, l_top_b, -l_mid])])
    geo.synchronize()
    gmsh.model.mesh.setRecombine(2, right_surface)
    cases["mixed"] = _finish(
        "mixed",
        folder,
        2,
        {
            "inlet": (1, [l_left]),
            "outlet": (1, [l_right]),
            "walls": (1, [l_bottom_a, l_bottom_b, l_top_a, l_top_b]),
            "fluid": (2, [left_surface, right_surface]),
        },
    )

    gmsh.model.add("tetra")
    box = gmsh.model.occ.addBox(0, 0, 0, 1, 1, 1)
    gmsh.model.occ.synchronize()
    gmsh.option.setNumber("Mesh.MeshSizeMax", 0.4)
    faces = [tag for _, tag in gmsh.model.getBoundary([(3, box)], oriented=False)]

    def x_of(tag: int) -> tuple[float, float]:
        xmin, _, _, xmax, _, _ = gmsh.model.getBoundingBox(2, tag)
        return xmin, xmax

    inlet = [t for t in faces if x_of(t)[1] < 1e-3]
    outlet = [t for t in faces if x_of(t)[0] > 1 - 1e-3]
    walls = [t for t in faces if t not in inlet + outlet]
    cases["tetra"] = _finish(
        "tetra",
        folder,
        3,
        {"inlet": (2, inlet), "outlet": (2, outlet), "walls": (2, walls), "fluid": (3, [box])},
    )
    gmsh.option.setNumber("Mesh.MeshSizeMax", 1e22)
    return cases


def _foam_header(cls: str, obj: str, location: str) -> str:
    return (
        "FoamFile\n{\n    version 2.0;\n    format ascii;\n"
        f'    class {cls};\n    location "{location}";\n    object {obj};\n}}\n\n'
    )


def write_openfoam_case(root: Path) -> Path:
    """A 2 x 1 x 1 hexahedral OpenFOAM case: patches inlet (x=0), outlet (x=2), walls (the
    rest), and a scalar field ``T`` in the time folders ``0`` (uniform 0) and ``1`` (cell
    values 1 and 2)."""
    mesh = root / "constant" / "polyMesh"
    mesh.mkdir(parents=True)
    (root / "system").mkdir()
    (root / "system" / "controlDict").write_text(
        _foam_header("dictionary", "controlDict", "system")
        + "application none;\nstartFrom startTime;\nstartTime 0;\nstopAt endTime;\nendTime 1;\n"
        "deltaT 1;\nwriteControl timeStep;\nwriteInterval 1;\n"
    )
    # point (i, j, k) has index i + 3 j + 6 k
    points = [(i, j, k) for k in range(2) for j in range(2) for i in range(3)]
    (mesh / "points").write_text(
        _foam_header("vectorField", "points", "constant/polyMesh")
        + f"{len(points)}\n(\n"
        + "".join(f"({x} {y} {z})\n" for x, y, z in points)
        + ")\n"
    )
    # internal face first, then the patches; every face's normal points out of its owner
    faces = [
        (1, 4, 10, 7),  # internal, x = 1
        (0, 6, 9, 3),  # inlet
        (2, 5, 11, 8),  # outlet
        (0, 1, 7, 6),
        (1, 2, 8, 7),
        (3, 9, 10, 4),
        (4, 10, 11, 5),  # walls y = 0, y = 1
        (0, 3, 4, 1),
        (1, 4, 5, 2),
        (6, 7, 10, 9),
        (7, 8, 11, 10),  # walls z = 0, z = 1
    ]
    (mesh / "faces").write_text(
        _foam_header("faceList", "faces", "constant/polyMesh")
        + f"{len(faces)}\n(\n"
        + "".join("4(" + " ".join(map(str, f)) + ")\n" for f in faces)
        + ")\n"
    )
    owner = [0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    (mesh / "owner").write_text(
        _foam_header("labelList", "owner", "constant/polyMesh")
        + f"{len(owner)}\n(\n"
        + "\n".join(map(str, owner))
        + "\n)\n"
    )
    (mesh / "neighbour").write_text(
        _foam_header("labelList", "neighbour", "constant/polyMesh") + "1\n(\n1\n)\n"
    )
    patches = [("inlet", "patch", 1, 1), ("outlet", "patch", 1, 2), ("walls", "wall", 8, 3)]
    (mesh / "boundary").write_text(
        _foam_header("polyBoundaryMesh", "boundary", "constant/polyMesh")
        + f"{len(patches)}\n(\n"
        + "".join(
            f"    {name}\n    {{\n        type {kind};\n        nFaces {n};\n"
            f"        startFace {start};\n    }}\n"
            for name, kind, n, start in patches
        )
        + ")\n"
    )
    for time, internal in (("0", "uniform 0"), ("1", "nonuniform List<scalar> 2(1 2)")):
        (root / time).mkdir()
        (root / time / "T").write_text(
            _foam_header("volScalarField", "T", time)
            + f"dimensions [0 0 0 1 0 0 0];\n\ninternalField {internal};\n\nboundaryField\n{{\n"
            "    inlet\n    {\n        type fixedValue;\n        value uniform 1;\n    }\n"
            "    outlet\n    {\n        type zeroGradient;\n    }\n"
            "    walls\n    {\n        type zeroGradient;\n    }\n}\n"
        )
    return root


@pytest.fixture
def openfoam_case(tmp_path: Path) -> Path:
    """Folder of the tiny OpenFOAM case of :func:`write_openfoam_case`."""
    return write_openfoam_case(tmp_path / "case")


@pytest.fixture(scope="session")
def pyvista_examples() -> Callable[[str], Path]:
    """Path of a sample file shipped inside the PyVista package (no download)."""

    def path(name: str) -> Path:
        found = Path(examples.__file__).parent / name
        if not found.is_file():
            pytest.skip(f"{name} is not shipped with this PyVista")
        return found

    return path
