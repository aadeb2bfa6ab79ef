"""meshfield.generate: models, meshes, conditions, initial frames, queries, residuals, files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
import torch

import meshfield
from meshfield.api import ExtrapolationWarning, generate, pde_from_spec, resolve_model
from meshfield.checkpoint import save_checkpoint
from meshfield.models import HMT, DecoderConfig, EncoderConfig, HMTConfig
from meshfield.nn import BackboneConfig
from meshfield.physics import Heat, NavierStokes
from meshfield.result import FieldResult

CYLINDER = Path(meshfield.__file__).parent / "assets" / "cylinder.msh"

#: a data spec as a checkpoint stores it: Navier-Stokes, snapshots every 0.2 from 25 to 26
SPEC = {
    "case": "cylinder_wake",
    "pde": {"name": "navier_stokes", "constants": {"rho": 1.0, "U_inf": 1.0, "D": 1.0}},
    "conditions": {"Re": {"units": "1", "train": [60, 200]}},
    "time": {"spin_up": 25.0, "end": 26.0, "interval": 0.2},
    "fields": {"U": "m/s", "p": "m^2/s^2"},
}


def tiny_model() -> HMT:
    """An HMT for (U_x, U_y, p) with the condition Re, trained range [60, 200]."""
    config = HMTConfig(
        field_names=("U_x", "U_y", "p"),
        cond_names=("Re",),
        encoder=EncoderConfig(fourier_features=2, num_boundary_tags=8, message_passing=1),
        backbone=BackboneConfig(
            d_model=16,
            pattern="MA",
            patch_size=16,
            num_heads=2,
            mlp_ratio=2.0,
            mamba={"d_state": 8, "headdim": 8, "chunk_size": 16, "backend": "torch"},
        ),
        d_latent=8,
        decoder=DecoderConfig(query_neighbors=4, query_hidden=16),
    )
    model = HMT(config)
    model.normalizer.set_stats(
        cond_mean=[130.0], cond_std=[40.0], cond_min=[60.0], cond_max=[200.0]
    )
    return model


def plane_mesh(nx: int = 6, ny: int = 4) -> object:
    """A small triangulated rectangle [-1, 1] x [-0.5, 0.5] (pyvista)."""
    mesh = pv.Plane(i_size=2.0, j_size=1.0, i_resolution=nx, j_resolution=ny).triangulate()
    mesh.clear_data()  # no normals or texture coordinates: a bare mesh
    return mesh


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("api") / "ck"
    return save_checkpoint(tiny_model(), path, data_spec=SPEC, metadata={"epoch": 3})


@pytest.fixture(scope="module")
def plane() -> object:
    return meshfield.load_mesh(plane_mesh())


# ------------------------------------------------------------------------------------------
# the call on meshes


@pytest.mark.slow
def test_bundled_cylinder_mesh(checkpoint: Path) -> None:
    result = generate(CYLINDER, {"Re": 150}, model=checkpoint, steps=2)
    assert isinstance(result, FieldResult)
    assert result.fields.shape == (3, 1651, 3)
    assert result.field_names == ["U_x", "U_y", "p"]
    torch.testing.assert_close(result.times, torch.tensor([25.0, 25.2, 25.4]))
    assert result.cond == {"Re": 150.0}
    assert result.units == {"U": "m/s", "p": "m^2/s^2"}
    assert result.residual.shape == (3, 1651, 3)
    assert result.residual_names == ["continuity", "momentum_x", "momentum_y"]
    assert torch.isfinite(result.fields).all() and torch.isfinite(result.residual).all()
    assert result.metrics["R"] > 0 and set(result.metrics) >= {"R_continuity", "R_momentum_y"}
    assert list(result.mesh.boundary_names) == ["interior", "inlet", "outlet", "walls", "cylinder"]
    # R is one number everywhere: the mean square over interior nodes, steps and components
    interior = result.mesh.boundary == 0
    squared = result.residual.double()[:, interior] ** 2
    assert 0 < int(interior.sum()) < interior.numel()
    assert result.metrics["R"] == pytest.approx(float(squared.mean()), rel=1e-9)
    assert result.metrics["R_momentum_x"] == pytest.approx(float(squared[..., 1].mean()), rel=1e-9)


def test_pyvista_mesh_and_default_steps(checkpoint: Path) -> None:
    mesh = plane_mesh()
    result = generate(mesh, {"Re": 100}, model=checkpoint)
    # the spec records 6 snapshots: the generated first frame and 5 steps
    assert result.fields.shape == (6, mesh.n_points, 3)
    torch.testing.assert_close(result.times, 25.0 + 0.2 * torch.arange(6.0))


def test_residual_matches_the_pde_on_the_mesh(checkpoint: Path, plane: object) -> None:
    result = generate(plane, {"Re": 80}, model=checkpoint, steps=3)
    times = 25.0 + 0.2 * torch.arange(4, dtype=torch.float64)  # the spec's, in float64
    expected = NavierStokes(nu=1 / 80, viscosity="nu").mesh_residual(
        plane, result.fields.double(), times=times
    )
    torch.testing.assert_close(result.residual, expected.float())


def test_same_result_from_path_graph_and_model(checkpoint: Path, plane: object) -> None:
    from_path = generate(plane, {"Re": 120}, model=checkpoint, steps=2)
    model = meshfield.load_model(checkpoint)
    model.train()
    # a loaded model keeps its checkpoint's data spec: the same times and residual
    from_model = generate(plane, {"Re": 120}, model=model, steps=2)
    torch.testing.assert_close(from_model.fields, from_path.fields)
    torch.testing.assert_close(from_model.residual, from_path.residual)
    torch.testing.assert_close(from_model.times, from_path.times)
    assert model.training  # the model's mode is left as it was
    model.data_spec = None  # a model without one: no PDE, no times
    with pytest.warns(UserWarning, match="no data spec naming a PDE"):
        bare = generate(plane, {"Re": 120}, model=model, steps=2)
    torch.testing.assert_close(bare.fields, from_path.fields)
    assert bare.residual is None
    torch.testing.assert_close(bare.times, torch.arange(3.0))


def test_residual_options(checkpoint: Path, plane: object) -> None:
    assert generate(plane, {"Re": 150}, model=checkpoint, steps=1, residual=False).residual is None
    custom = NavierStokes()  # Re comes from the conditions of the call
    result = generate(plane, {"Re": 150}, model=checkpoint, steps=2, residual=custom)
    times = 25.0 + 0.2 * torch.arange(3, dtype=torch.float64)
    expected = custom.mesh_residual(plane, result.fields.double(), times=times, cond={"Re": 150.0})
    torch.testing.assert_close(result.residual, expected.float())
    with pytest.raises(ValueError, match="needs the fields"):
        generate(plane, {"Re": 150}, model=checkpoint, steps=1, residual=Heat(alpha=1.0))


def test_one_frame_has_no_time_derivative(checkpoint: Path, plane: object) -> None:
    with pytest.warns(UserWarning, match="time derivative"):
        result = generate(plane, {"Re": 150}, model=checkpoint, steps=0)
    assert result.num_steps == 1 and result.residual is None


# ------------------------------------------------------------------------------------------
# conditions


def test_missing_and_unknown_conditions(checkpoint: Path, plane: object) -> None:
    with pytest.raises(ValueError, match=r"missing \['Re'\].*expects \['Re'\].*Re in \[60, 200\]"):
        generate(plane, {}, model=checkpoint)
    with pytest.raises(ValueError, match=r"missing \['Re'\] and unknown \['Ma'\]"):
        generate(plane, {"Ma": 0.3}, model=checkpoint)
    with pytest.raises(ValueError, match=r"unknown \['nu'\]"):
        generate(plane, {"Re": 100, "nu": 0.01}, model=checkpoint)
    with pytest.raises(ValueError, match="must be a number"):
        generate(plane, {"Re": "fast"}, model=checkpoint)
    with pytest.raises(ValueError, match="finite"):
        generate(plane, {"Re": float("nan")}, model=checkpoint)
    with pytest.raises(TypeError, match="mapping"):
        generate(plane, [150], model=checkpoint)


def test_extrapolation_warns(checkpoint: Path, plane: object) -> None:
    with pytest.warns(ExtrapolationWarning, match=r"Re=500 is outside .* Re in \[60, 200\]"):
        result = generate(plane, {"Re": 500}, model=checkpoint, steps=1)
    assert result.cond == {"Re": 500.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        generate(plane, {"Re": 200}, model=checkpoint, steps=1)  # the bound itself is fine


# ------------------------------------------------------------------------------------------
# meshes the model cannot take


def test_3d_mesh_into_2d_model(checkpoint: Path) -> None:
    tets = pv.ImageData(dimensions=(3, 3, 3)).triangulate()
    with pytest.raises(ValueError, match="mesh is 3D but the model .* 2D"):
        generate(tets, {"Re": 100}, model=checkpoint)


def test_too_many_boundary_groups(checkpoint: Path, plane: object) -> None:
    mesh = plane.clone()
    mesh.boundary = torch.where(mesh.boundary > 0, torch.tensor(9), mesh.boundary)
    with pytest.raises(ValueError, match="boundary groups .* knows 7"):
        generate(mesh, {"Re": 100}, model=checkpoint)


def test_boundary_groups_are_matched_by_name(tmp_path: Path) -> None:
    # the same mesh with its groups renumbered gets the same tags, hence the same fields
    names = ["interior", "inlet", "outlet", "walls", "cylinder"]
    path = save_checkpoint(tiny_model(), tmp_path / "ck", metadata={"boundary_names": names})
    mesh = meshfield.load_mesh("meshfield/assets/cylinder.msh")
    assert list(mesh.boundary_names) == names
    shuffled = mesh.clone()
    order = [0, 4, 1, 2, 3]  # new tag -> old tag: cylinder first
    old_to_new = torch.tensor([order.index(t) for t in range(5)])
    shuffled.boundary = old_to_new[mesh.boundary]
    shuffled.boundary_names = [names[t] for t in order]
    a = generate(mesh, {"Re": 100}, model=path, steps=2, residual=False).fields
    b = generate(shuffled, {"Re": 100}, model=path, steps=2, residual=False).fields
    torch.testing.assert_close(a, b)
    other = mesh.clone()
    other.boundary_names = ["interior", "inlet", "outlet", "top", "cylinder"]
    with pytest.raises(ValueError, match=r"boundary groups \['top'\] are not among"):
        generate(other, {"Re": 100}, model=path, steps=1, residual=False)


def test_boundary_map_renames_and_merges_groups(tmp_path: Path) -> None:
    # an OpenFOAM-style mesh with the walls split into 'top' and 'bottom' and ordered
    # differently: mapped to the trained names it gets the trained tags, hence the same fields
    names = ["interior", "inlet", "outlet", "walls", "cylinder"]
    path = save_checkpoint(tiny_model(), tmp_path / "ck", metadata={"boundary_names": names})
    mesh = meshfield.load_mesh("meshfield/assets/cylinder.msh")
    split = mesh.clone()
    walls = mesh.boundary == 3
    top = walls & (mesh.pos[:, 1] > 0)
    # groups: 1 cylinder, 2 top, 3 inlet, 4 bottom, 5 outlet
    new = torch.tensor([0, 3, 5, 0, 1])[mesh.boundary]
    new[top], new[walls & ~top] = 2, 4
    split.boundary = new
    split.boundary_names = ["interior", "cylinder", "top", "inlet", "bottom", "outlet"]
    assert bool(top.any()) and bool((walls & ~top).any())
    a = generate(mesh, {"Re": 100}, model=path, steps=2, residual=False)
    b = generate(
        split, {"Re": 100}, model=path, steps=2, residual=False,
        boundary_map={"top": "walls", "bottom": "walls"},
    )
    torch.testing.assert_close(a.fields, b.fields)
    assert list(b.mesh.boundary_names) == names
    torch.testing.assert_close(b.mesh.boundary, mesh.boundary)
    with pytest.raises(ValueError, match=r"the mesh has no boundary group \['side'\]"):
        generate(split, {"Re": 100}, model=path, steps=1, boundary_map={"side": "walls"})
    with pytest.raises(ValueError, match=r"boundary groups \['bottom'\] are not among"):
        generate(split, {"Re": 100}, model=path, steps=1, boundary_map={"top": "walls"})


def test_no_mesh_without_default(checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="no default mesh"):
        generate(None, {"Re": 100}, model=checkpoint)


def test_bad_steps(checkpoint: Path, plane: object) -> None:
    for steps in (-1, 1.5, True):
        with pytest.raises(ValueError, match="non-negative integer"):
            generate(plane, {"Re": 100}, model=checkpoint, steps=steps)


# ------------------------------------------------------------------------------------------
# initial frames


def test_initial_frames_given(checkpoint: Path, plane: object) -> None:
    n = plane.num_nodes
    initial = torch.randn(2, n, 3)
    result = generate(plane, {"Re": 100}, model=checkpoint, steps=3, initial=initial)
    assert result.fields.shape == (5, n, 3)
    torch.testing.assert_close(result.fields[:2], initial)
    model = meshfield.load_model(checkpoint)
    expected = model.rollout(plane, 3, initial, cond={"Re": 100.0})
    torch.testing.assert_close(result.fields, expected)
    # one frame [N, C], or a mapping of channels
    one = generate(plane, {"Re": 100}, model=checkpoint, steps=1, initial=initial[0])
    torch.testing.assert_close(one.fields[0], initial[0])
    named = {"U_x": initial[0, :, 0], "U_y": initial[0, :, 1], "p": initial[0, :, 2]}
    mapped = generate(plane, {"Re": 100}, model=checkpoint, steps=1, initial=named)
    torch.testing.assert_close(mapped.fields, one.fields)


def test_initial_frames_generated(checkpoint: Path, plane: object) -> None:
    result = generate(plane, {"Re": 100}, model=checkpoint, steps=2)
    model = meshfield.load_model(checkpoint)
    torch.testing.assert_close(result.fields, model.rollout(plane, 2, cond={"Re": 100.0}))
    first = model.initial(plane, {"Re": 100.0}).fields
    torch.testing.assert_close(result.fields[0], first.detach())


def test_initial_from_the_mesh_fields(checkpoint: Path, plane: object) -> None:
    n = plane.num_nodes
    mesh = plane.clone()
    mesh.fields = torch.randn(1, n, 4)
    mesh.field_names = ["p", "T", "U_y", "U_x"]
    result = generate(mesh, {"Re": 100}, model=checkpoint, steps=1, initial="mesh")
    torch.testing.assert_close(result.fields[0], mesh.fields[0][:, [3, 2, 0]])
    mesh.field_names = ["p", "T", "U_y", "V"]
    with pytest.raises(
        ValueError, match=r"lacks the fields \['U_x'\].*needs \['U_x', 'U_y', 'p'\]"
    ):
        generate(mesh, {"Re": 100}, model=checkpoint, initial="mesh")


def test_initial_frames_of_the_wrong_shape(checkpoint: Path, plane: object) -> None:
    n = plane.num_nodes
    with pytest.raises(ValueError, match=rf"shape \[h, {n}, 3\] \(\['U_x', 'U_y', 'p'\]\)"):
        generate(plane, {"Re": 100}, model=checkpoint, initial=torch.zeros(1, n, 2))
    with pytest.raises(ValueError, match=rf"shape \[h, {n}, 3\]"):
        generate(plane, {"Re": 100}, model=checkpoint, initial=torch.zeros(1, n + 1, 3))
    with pytest.raises(ValueError, match=r"missing \['p'\]"):
        generate(plane, {"Re": 100}, model=checkpoint, initial={"U_x": [0.0] * n, "U_y": [0] * n})
    with pytest.raises(ValueError, match="finite"):
        generate(plane, {"Re": 100}, model=checkpoint, initial=torch.full((n, 3), float("inf")))


# ------------------------------------------------------------------------------------------
# point queries


def test_query_points(checkpoint: Path, plane: object) -> None:
    q = torch.tensor([[0.1, 0.05], [-0.7, 0.3], [0.9, -0.45]])
    result = generate(plane, {"Re": 100}, model=checkpoint, steps=3, query_points=q)
    torch.testing.assert_close(result.query_points, q)
    assert result.query_values.shape == (4, 3, 3)
    # the decoder of the last step, and of earlier steps (recomputed)
    torch.testing.assert_close(result.at(q), result.query_values[-1])
    torch.testing.assert_close(result.at(q, step=1), result.query_values[1])
    torch.testing.assert_close(result.at(q, step=0), result.query_values[0])
    model = meshfield.load_model(checkpoint)
    out = model.initial(plane, {"Re": 100.0})
    torch.testing.assert_close(result.query_values[0], model.query(q, out, plane.pos).detach())


def test_query_points_derivatives(checkpoint: Path, plane: object) -> None:
    result = generate(plane, {"Re": 100}, model=checkpoint, steps=1)
    q = torch.tensor([[0.1, 0.05], [0.3, -0.2]], requires_grad=True)
    values = result.query_fn(q, 1)
    (grad,) = torch.autograd.grad(values[:, 2].sum(), q)
    assert grad.shape == (2, 2) and torch.isfinite(grad).all()


def test_query_points_on_given_frames_interpolate(checkpoint: Path, plane: object) -> None:
    n = plane.num_nodes
    initial = torch.randn(1, n, 3)
    nodes = plane.pos[[0, 5, 11]]
    result = generate(
        plane, {"Re": 100}, model=checkpoint, steps=1, initial=initial, query_points=nodes
    )
    torch.testing.assert_close(result.query_values[0], initial[0, [0, 5, 11]])
    torch.testing.assert_close(result.at(nodes, step=0), initial[0, [0, 5, 11]])


def test_query_points_of_the_wrong_shape(checkpoint: Path, plane: object) -> None:
    with pytest.raises(ValueError, match=r"shape \[Q, 2\]"):
        generate(plane, {"Re": 100}, model=checkpoint, query_points=torch.zeros(4, 3))


# ------------------------------------------------------------------------------------------
# files


@pytest.mark.parametrize("suffix", [".pvd", ".vtu", ".xdmf"])
def test_save_and_reload(checkpoint: Path, plane: object, tmp_path: Path, suffix: str) -> None:
    result = generate(plane, {"Re": 150}, model=checkpoint, steps=2)
    path = result.save(tmp_path / f"wake{suffix}")
    back = FieldResult.load(path)
    frames = slice(None) if suffix == ".pvd" else slice(-1, None)
    torch.testing.assert_close(back.fields, result.fields[frames])
    torch.testing.assert_close(back.residual, result.residual[frames])
    assert back.field_names == result.field_names
    assert back.residual_names == result.residual_names
    assert back.cond == {"Re": 150.0}
    if suffix == ".pvd":
        torch.testing.assert_close(back.times, result.times)


# ------------------------------------------------------------------------------------------
# models


def test_resolve_model(checkpoint: Path, tmp_path: Path) -> None:
    resolved = resolve_model(checkpoint)
    assert resolved.path == checkpoint and resolved.name is None and resolved.mesh is None
    assert resolved.info["metadata"] == {"epoch": 3}
    assert resolved.info["data_spec"]["pde"]["name"] == "navier_stokes"
    run = tmp_path / "run"
    save_checkpoint(tiny_model(), run / "best")
    assert resolve_model(run).path == run / "best"
    with pytest.raises(ValueError, match="not a meshfield checkpoint"):
        resolve_model(tmp_path)
    with pytest.raises(ValueError, match="no pretrained model named 'cylinder_wak'.*cylinder_wake"):
        resolve_model("cylinder_wak")
    with pytest.raises(TypeError, match="pretrained name"):
        resolve_model(3)


def test_pde_from_spec() -> None:
    names = ["U_x", "U_y", "p"]
    ns = pde_from_spec(SPEC, {"Re": 100.0}, names)
    assert isinstance(ns, NavierStokes) and ns.nu == pytest.approx(0.01) and ns.rho == 1.0
    lid = {"pde": {"name": "navier_stokes", "constants": {"U_lid": 2.0, "L": 0.5}}}
    assert pde_from_spec(lid, {"Re": 100.0}, names).nu == pytest.approx(0.01)
    tg = {"pde": {"name": "navier_stokes", "constants": {"rho": 2.0}}}
    flow = pde_from_spec(tg, {"nu": 0.05}, names)
    assert (flow.nu, flow.rho) == (0.05, 2.0)
    steady = {**SPEC, "time": {"steady": True}}
    assert not pde_from_spec(steady, {"Re": 100.0}, names).time_dependent
    heat = pde_from_spec({"pde": {"name": "heat"}}, {"alpha": 0.1}, ["T"])
    assert isinstance(heat, Heat) and heat.alpha == 0.1
    assert pde_from_spec({"pde": {"name": "navier_stokes_rans"}}, {"aoa": 2.0}, names) is None
    assert pde_from_spec(SPEC, {}, names) is None  # no viscosity
    assert pde_from_spec(SPEC, {"Re": 100.0}, ["u", "v"]) is None
    assert pde_from_spec(None, {"Re": 100.0}, names) is None


def test_unresolvable_pde_warns(tmp_path: Path, plane: object) -> None:
    spec = {**SPEC, "pde": {"name": "navier_stokes_rans"}}
    path = save_checkpoint(tiny_model(), tmp_path / "ck", data_spec=spec)
    with pytest.warns(UserWarning, match="'navier_stokes_rans' of its data spec cannot be set up"):
        result = generate(plane, {"Re": 100}, model=path, steps=2)
    assert result.residual is None


# ------------------------------------------------------------------------------------------
# refinement hook


def test_refine_without_refiner(checkpoint: Path, plane: object) -> None:
    with pytest.raises(ValueError, match="has no refiner"):
        generate(plane, {"Re": 100}, model=checkpoint, refine=True)
    # refine=None refines only when the checkpoint has a refiner
    assert generate(plane, {"Re": 100}, model=checkpoint, steps=1, refine=None).num_steps == 2


def _small_refiner_config(model: HMT) -> object:
    from meshfield.physics.registry import pde_to_dict
    from meshfield.refine import RefinerConfig

    return RefinerConfig(
        field_names=model.field_names,
        pde=pde_to_dict(NavierStokes(Re=100.0)),
        token_width=model.width,
        hidden=8,
        domain_points=16,
        boundary_points=0,
    )


def test_refine_with_the_checkpoint_refiner(tmp_path: Path, plane: object) -> None:
    from meshfield.refine.refiner import (
        PhysicsRefiner,
        save_refined_checkpoint,
    )

    model = tiny_model()
    config = _small_refiner_config(model)
    path = save_refined_checkpoint(model, PhysicsRefiner(config), tmp_path / "refined")
    save_checkpoint(model, tmp_path / "plain")
    plain = generate(plane, {"Re": 100}, model=tmp_path / "plain", steps=2, residual=False)
    q = torch.tensor([[0.1, 0.05], [-0.7, 0.3]])
    # a new refiner is the identity: refinement reproduces the rollout
    refined = generate(
        plane, {"Re": 100}, model=path, steps=2, refine=True, query_points=q, residual=False
    )
    torch.testing.assert_close(refined.fields, plain.fields, atol=1e-5, rtol=1e-5)
    assert refined.query_fn is None and refined.query_values.shape == (3, 2, 3)
    torch.testing.assert_close(refined.at(q), refined.query_values[-1])
    auto = generate(plane, {"Re": 100}, model=path, steps=2, refine=None, residual=False)
    torch.testing.assert_close(auto.fields, refined.fields)
    # given initial frames stay as they are
    initial = torch.randn(2, plane.num_nodes, 3)
    kept = generate(
        plane, {"Re": 100}, model=path, steps=1, initial=initial, refine=True, residual=False
    )
    torch.testing.assert_close(kept.fields[:2], initial)


def test_refine_with_a_refined_model_object(tmp_path: Path, plane: object) -> None:
    from meshfield.refine import PhysicsRefiner, RefinedModel

    model = tiny_model()
    config = _small_refiner_config(model)
    refiner = PhysicsRefiner(config)
    torch.manual_seed(1)
    for param in refiner.head.parameters():  # away from the identity
        torch.nn.init.normal_(param, std=0.1)
    pair = RefinedModel(model, refiner)
    path = pair.save(tmp_path / "refined")
    # the object brings its refiner (refine=None uses it); the same as its saved folder
    from_object = generate(plane, {"Re": 100}, model=pair, steps=2, refine=None, residual=False)
    from_folder = generate(plane, {"Re": 100}, model=path, steps=2, refine=True, residual=False)
    plain = generate(plane, {"Re": 100}, model=model, steps=2, residual=False)
    torch.testing.assert_close(from_object.fields, from_folder.fields)
    assert not torch.allclose(from_object.fields, plain.fields)
    with pytest.raises(ValueError, match="has no refiner"):
        generate(plane, {"Re": 100}, model=model, steps=1, refine=True)


def test_top_level_name() -> None:
    assert meshfield.generate is generate



def test_generate_stops_on_non_finite_fields(tmp_path: Path) -> None:
    # Re = 1e30 drives the shipped model to NaN: an error, and nothing written
    from meshfield.cli import main
    from meshfield.errors import NonFiniteError

    with pytest.warns(ExtrapolationWarning), pytest.raises(NonFiniteError, match="not finite"):
        meshfield.generate(None, {"Re": 1e30}, steps=3, residual=False)
    out = tmp_path / "wake.pvd"
    assert main(["generate", "--cond", "Re=1e30", "--steps", "3", "--out", str(out)]) == 2
    assert not out.exists() and not list(tmp_path.iterdir())


def test_meshes_that_make_no_sense_for_the_model(checkpoint: Path) -> None:
    from meshfield.data import mesh_graph

    line = mesh_graph([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], {"line": [[0, 1], [1, 2]]})
    with pytest.raises(ValueError, match="no 2D cells"):
        generate(line, {"Re": 100}, model=checkpoint, steps=1)
    flat = mesh_graph([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]],
                      {"triangle": [[0, 1, 2], [1, 2, 3]]})
    with pytest.raises(ValueError, match="zero area"):
        generate(flat, {"Re": 100}, model=checkpoint, steps=1)
    cloud = pv.PolyData(np.random.default_rng(0).random((20, 3)) * [1, 1, 0])
    with pytest.raises(ValueError, match="no edges|no cells|cell"):
        generate(cloud, {"Re": 100}, model=checkpoint, steps=1)


def test_conditions_the_pde_cannot_take_fail_before_the_rollout() -> None:
    with pytest.warns(ExtrapolationWarning), pytest.raises(ValueError, match="Re must be a positive"):
        meshfield.generate(None, {"Re": 0.0}, steps=2)


# -------------------------------------------------------------------------------------------
# several conditions in one rollout


def test_generate_many_equals_one_call_per_condition(checkpoint: Path, plane: object) -> None:
    conditions = [{"Re": 100.0}, {"Re": 160.0}, {"Re": 120.0}]
    batched = meshfield.generate_many(plane, conditions, model=checkpoint, steps=3)
    assert len(batched) == 3
    for cond, result in zip(conditions, batched, strict=True):
        single = generate(plane, cond, model=checkpoint, steps=3)
        assert result.cond == cond
        torch.testing.assert_close(result.fields, single.fields, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(result.residual, single.residual, atol=1e-4, rtol=1e-3)
        assert result.metrics.keys() == single.metrics.keys()
    # the conditions matter: the generated flows differ
    assert not torch.allclose(batched[0].fields, batched[1].fields)
    # from shared initial frames
    start = batched[0].fields[:1]
    again = meshfield.generate_many(
        plane, conditions[:2], model=checkpoint, steps=2, initial=start, residual=False
    )
    single = generate(plane, conditions[1], model=checkpoint, steps=2, initial=start, residual=False)
    torch.testing.assert_close(again[1].fields, single.fields, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(again[0].fields[0], start[0])


def test_generate_many_rejects_one_mapping_and_bad_entries(checkpoint: Path, plane: object) -> None:
    with pytest.raises(TypeError, match="non-empty list of mappings"):
        meshfield.generate_many(plane, {"Re": 100}, model=checkpoint)
    with pytest.raises(TypeError, match="non-empty list"):
        meshfield.generate_many(plane, [], model=checkpoint)
    with pytest.raises(ValueError, match=r"missing \['Re'\]"):
        meshfield.generate_many(plane, [{"Re": 100}, {"Ma": 0.2}], model=checkpoint)
