from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import meshfield
from meshfield.errors import MeshValidationError
from meshfield.result import FieldResult

MESH = Path(meshfield.__file__).parent / "assets" / "cylinder.msh"


def linear(pos: torch.Tensor, t: float) -> torch.Tensor:
    """Fields linear in space, so linear interpolation on the mesh reproduces them exactly."""
    x, y = pos[:, 0].double(), pos[:, 1].double()
    return torch.stack([1.0 + 0.1 * x - 0.2 * y + t, 0.3 * y, 2.0 - x * t], dim=-1)


@pytest.fixture(scope="module")
def mesh():
    return meshfield.load_mesh(MESH)


@pytest.fixture(scope="module")
def result(mesh):
    times = torch.tensor([0.0, 0.5, 1.0])
    fields = torch.stack([linear(mesh.pos, float(t)) for t in times]).float()
    reference = fields + 0.01 * torch.arange(3).float()
    residual = (fields - reference)[..., :2] * 10
    return FieldResult(
        fields,
        ["U_x", "U_y", "p"],
        times,
        mesh,
        residual=residual,
        residual_names=["continuity", "momentum"],
        reference=reference,
        units={"U": "m/s", "p": "Pa"},
        cond={"Re": 150},
        metrics={"rel_l2": 0.0123456, "R": 2.5e-4},
    )


def test_repr_and_sizes(result):
    assert repr(result) == (
        "FieldResult(steps=3, nodes=1651, fields=[U_x, U_y, p], "
        "residual=[continuity, momentum], reference=True, cond={Re=150}, "
        "metrics={rel_l2=0.01235, R=0.00025})"
    )
    assert (result.num_steps, result.num_nodes) == (3, 1651)
    torch.testing.assert_close(result.error, (result.fields - result.reference).abs())
    assert result.step_index(-1) == 2
    with pytest.raises(IndexError, match="out of range"):
        result.step_index(3)


def test_defaults(mesh):
    bare = FieldResult(np.zeros((2, mesh.num_nodes, 1)), ["T"], None, mesh)
    torch.testing.assert_close(bare.times, torch.tensor([0.0, 1.0]))
    assert bare.residual is None and bare.residual_names == [] and bare.error is None
    assert repr(bare) == "FieldResult(steps=2, nodes=1651, fields=[T])"
    unnamed = FieldResult(
        torch.zeros(2, mesh.num_nodes, 1),
        ["T"],
        None,
        mesh,
        residual=torch.zeros(2, mesh.num_nodes, 2),
    )
    assert unnamed.residual_names == ["R_0", "R_1"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": torch.zeros(1651, 3)}, r"'fields' with shape \[T, N, C\]"),
        ({"field_names": ["U_x", "U_y"]}, "Expected 3 names in 'field_names'"),
        ({"field_names": ["a", "a", "b"]}, "must be unique"),
        ({"times": torch.zeros(2)}, r"'times' with shape \[3\]"),
        ({"fields": torch.zeros(3, 10, 3)}, "10 nodes but the mesh has 1651"),
        ({"reference": torch.zeros(3, 1651, 2)}, "'reference' with the shape of 'fields'"),
        ({"residual": torch.zeros(2, 1651, 1)}, r"'residual' with shape \[3, 1651, R\]"),
        ({"residual_names": ["a"]}, "'residual_names' given without 'residual'"),
    ],
)
def test_bad_input(mesh, change, message):
    arguments = {
        "fields": torch.zeros(3, 1651, 3),
        "field_names": ["U_x", "U_y", "p"],
        "times": None,
        "mesh": mesh,
        **change,
    }
    with pytest.raises(MeshValidationError, match=message):
        FieldResult(**arguments)


def test_to_pyvista_holds_every_array(result):
    grid = result.to_pyvista(step=1)
    assert grid.n_points == result.num_nodes
    for name in (
        "U",
        "p",
        "reference:U",
        "reference:p",
        "error:U",
        "error:p",
        "residual:continuity",
        "residual:momentum",
    ):
        assert name in grid.point_data, name
    np.testing.assert_array_equal(grid.point_data["p"], result.fields[1, :, 2].numpy())
    np.testing.assert_array_equal(grid.point_data["U"][:, :2], result.fields[1, :, :2].numpy())
    np.testing.assert_allclose(grid.point_data["error:p"], result.error[1, :, 2].numpy())
    np.testing.assert_array_equal(
        grid.point_data["residual:momentum"], result.residual[1, :, 1].numpy()
    )


def test_pvd_round_trip(result, tmp_path):
    path = result.save(tmp_path / "run.pvd")
    assert path == tmp_path / "run.pvd"
    assert len(list((tmp_path / "run").glob("*.vtu"))) == 3
    back = FieldResult.load(path)
    assert back.field_names == result.field_names
    assert back.residual_names == result.residual_names
    torch.testing.assert_close(back.fields, result.fields, rtol=0, atol=0)
    torch.testing.assert_close(back.reference, result.reference, rtol=0, atol=0)
    torch.testing.assert_close(back.residual, result.residual, rtol=0, atol=0)
    torch.testing.assert_close(back.times, result.times, rtol=0, atol=0)
    torch.testing.assert_close(back.mesh.pos, result.mesh.pos, rtol=0, atol=0)
    assert back.cond == {"Re": 150.0}
    assert "fields" not in back.mesh


@pytest.mark.parametrize("suffix", [".vtu", ".vtk", ".xdmf"])
def test_single_step_round_trip(result, tmp_path, suffix):
    back = FieldResult.load(result.save(tmp_path / f"step{suffix}", step=1))
    assert back.num_steps == 1
    torch.testing.assert_close(back.fields[0], result.fields[1], rtol=0, atol=0)
    torch.testing.assert_close(back.residual[0], result.residual[1], rtol=0, atol=0)
    assert back.residual_names == ["continuity", "momentum"]


def test_load_plain_files(result, tmp_path):
    plain = FieldResult(result.fields, result.field_names, result.times, result.mesh)
    back = FieldResult.load(plain.save(tmp_path / "plain.pvd"))
    assert back.residual is None and back.reference is None
    meshfield.save(result.mesh, tmp_path / "mesh.vtu")
    with pytest.raises(MeshValidationError, match="no point data"):
        FieldResult.load(tmp_path / "mesh.vtu")


def test_at_interpolates_inside_the_mesh(result):
    rng = np.random.default_rng(0)
    points = torch.from_numpy(rng.uniform([2.0, -6.0], [20.0, 6.0], size=(40, 2)))
    for step in (0, -1):
        values = result.at(points, step=step)
        expected = linear(points, float(result.times[step]))
        torch.testing.assert_close(values.double(), expected, rtol=1e-5, atol=1e-5)
    # at the nodes themselves, boundary nodes included, the node values come back
    torch.testing.assert_close(result.at(result.mesh.pos, step=1), result.fields[1])
    outside = result.at(torch.tensor([[0.0, 0.0], [100.0, 0.0]]))  # in the cylinder; far away
    assert torch.isnan(outside).all()
    with pytest.raises(MeshValidationError, match=r"\[Q, 2\]"):
        result.at(torch.zeros(3, 3))


def test_at_calls_the_model(result):
    calls = []

    def query_fn(points, step):
        calls.append(step)
        return torch.full((len(points), 3), float(step))

    with_model = FieldResult(
        result.fields, result.field_names, result.times, result.mesh, query_fn=query_fn
    )
    assert "query_fn=True" in repr(with_model)
    values = with_model.at(torch.zeros(5, 2), step=-1)
    assert calls == [2]
    torch.testing.assert_close(values, torch.full((5, 3), 2.0))
    broken = FieldResult(
        result.fields,
        result.field_names,
        result.times,
        result.mesh,
        query_fn=lambda points, step: torch.zeros(len(points), 2),
    )
    with pytest.raises(MeshValidationError, match="query_fn returned shape"):
        broken.at(torch.zeros(5, 2))


def test_at_without_cells(result):
    from meshfield.data import MeshGraph

    points_only = MeshGraph(pos=result.mesh.pos, cells={})
    cloud = FieldResult(result.fields, result.field_names, result.times, points_only)
    with pytest.raises(MeshValidationError, match="no 2D or 3D cells"):
        cloud.at(torch.zeros(1, 2))


def test_plot_delegates_to_the_residual_map(result, tmp_path):
    image = result.plot("p", backend="matplotlib", window_size=(400, 300))
    assert image.shape == (300, 400, 3) and image.std() > 10
    out = result.plot(
        field="U",
        step=0,
        path=tmp_path / "map.png",
        residual=False,
        backend="matplotlib",
        window_size=(400, 300),
    )
    assert out == tmp_path / "map.png" and out.exists()
