"""OpenFOAM cases: patches as boundary groups, fields over the time folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from meshfield.errors import MeshFormatError
from meshfield.io import load_mesh, read_openfoam


def test_mesh_and_patches(openfoam_case: Path) -> None:
    data = load_mesh(openfoam_case)
    assert data.pos.shape == (12, 3)
    assert list(data.cells) == ["hexahedron"]
    assert data.cells["hexahedron"].shape == (2, 8)
    # two hexahedra sharing a face: 12 + 12 - 4 edges
    assert data.edge_index.shape[1] == 2 * 20
    assert data.boundary_names == ["interior", "inlet", "outlet", "walls"]
    x = data.pos[:, 0]
    # inlet (group 1) and outlet (2) win over walls (3) on the nodes they share
    assert torch.equal(data.boundary[x == 0], torch.full((4,), 1))
    assert torch.equal(data.boundary[x == 2], torch.full((4,), 2))
    assert torch.equal(data.boundary[x == 1], torch.full((4,), 3))


def test_fields_over_time(openfoam_case: Path) -> None:
    data = load_mesh(openfoam_case)
    assert data.times.tolist() == [0.0, 1.0]
    assert data.field_names == ["T"]
    assert data.fields.shape == (2, 12, 1)
    # cell values as written in 0/T and 1/T
    assert data.cell_field_names == ["T"]
    assert data.cell_fields["hexahedron"][:, :, 0].tolist() == [[0.0, 0.0], [1.0, 2.0]]
    # the reader's point values at t = 1 lie between the cell and patch values
    at_one = data.fields[1, :, 0]
    assert bool(((at_one >= 1.0) & (at_one <= 2.0)).all())
    middle = data.pos[:, 0] == 1
    np.testing.assert_allclose(at_one[middle].numpy(), 1.5)


def test_options(openfoam_case: Path) -> None:
    data = read_openfoam(openfoam_case, cell_to_point=True, cond={"Re": 10.0}, times=[5.0, 6.0])
    assert "cell_fields" not in data
    assert data.cond_names == ["Re"] and data.cond.tolist() == [10.0]
    assert data.times.tolist() == [5.0, 6.0]
    via_foam_file = openfoam_case / "case.foam"
    via_foam_file.touch()
    assert torch.equal(load_mesh(via_foam_file).pos, data.pos)


def test_folder_without_control_dict(tmp_path: Path) -> None:
    (tmp_path / "constant").mkdir()
    with pytest.raises(MeshFormatError, match="not an OpenFOAM case"):
        load_mesh(tmp_path)


def test_broken_case(openfoam_case: Path) -> None:
    (openfoam_case / "constant" / "polyMesh" / "faces").write_text("garbage\n")
    with pytest.raises((MeshFormatError,), match="OpenFOAM|internal mesh"):
        load_mesh(openfoam_case)


def _make_planar(case: Path) -> Path:
    """The fixture case with its z faces as an ``empty`` patch: a one-cell-thick 2D case."""
    boundary = case / "constant" / "polyMesh" / "boundary"
    text = boundary.read_text()
    head = text[: text.index("3\n(")]
    patches = [("inlet", "patch", 1, 1), ("outlet", "patch", 1, 2), ("walls", "wall", 4, 3),
               ("frontAndBack", "empty", 4, 7)]
    boundary.write_text(
        head + f"{len(patches)}\n(\n"
        + "".join(f"    {n}\n    {{\n        type {k};\n        nFaces {c};\n"
                  f"        startFace {s};\n    }}\n" for n, k, c, s in patches)
        + ")\n"
    )
    for time in ("0", "1"):
        field = case / time / "T"
        field.write_text(field.read_text().rstrip().rstrip("}")
                         + "    frontAndBack\n    {\n        type empty;\n    }\n}\n")
    return case


def test_a_planar_case_reads_as_2d(openfoam_case: Path) -> None:
    case = _make_planar(openfoam_case)
    data = load_mesh(case)
    # the back face: 3 x 2 points, two quads split into triangles, no empty patch as a group
    assert data.pos.shape == (6, 2)
    assert data.boundary_names == ["interior", "inlet", "outlet", "walls"]
    assert data.field_names == ["T"] and data.fields.shape == (1, 6, 1)
    inlet = data.boundary == 1
    assert torch.allclose(data.pos[inlet][:, 0], torch.zeros(int(inlet.sum()), dtype=data.pos.dtype))
