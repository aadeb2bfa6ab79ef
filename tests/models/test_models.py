"""What every model of the harness must do: shapes, equivariance, batching, rollouts."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import grid_mesh, tiny_hmt_config
from torch_geometric.data import Batch

from meshfield.models import (
    HMT,
    FieldModel,
    MeshGraphNet,
    MeshGraphNetConfig,
    StepOutput,
    Transformer,
    TransformerConfig,
    build_model,
)
from meshfield.nn import AdaLNZero, FiLM
from meshfield.testing import assert_permutation_equivariant

NAMES = (
    "hmt",
    "hmt-no-mamba",
    "hmt-no-attention",
    "meshgraphnet",
    "transformer",
    "transformer-full",
)


def make(name: str) -> FieldModel:
    if name.startswith("hmt"):
        return build_model(name, **vars(tiny_hmt_config()))
    common = {
        "field_names": ("u", "v"),
        "cond_names": ("c",),
        "history": 2,
        "width": 16,
    }
    if name == "meshgraphnet":
        return MeshGraphNet(MeshGraphNetConfig(num_layers=3, **common))
    attention = "full" if name == "transformer-full" else "linear"
    return Transformer(
        TransformerConfig(num_layers=2, num_heads=2, attention=attention, **common)
    )


@pytest.fixture(params=NAMES)
def model(request: pytest.FixtureRequest) -> FieldModel:
    torch.manual_seed(0)
    return make(request.param).eval()


def test_step_shapes(model: FieldModel, mesh) -> None:
    out = model(mesh)
    assert isinstance(out, StepOutput)
    n = mesh.num_nodes
    assert out.fields.shape == out.delta.shape == out.normalized.shape == (n, 2)
    assert out.node_features.shape == (n, model.width)
    if isinstance(model, HMT):
        assert out.state.shape == (1, model.config.d_latent)
    else:
        assert out.state is None
    assert torch.isfinite(out.fields).all()


def test_step_is_increment_of_last_frame(model: FieldModel, mesh) -> None:
    model.normalizer.set_stats(delta_mean=[0.5, -1.0], delta_std=[2.0, 3.0])
    out = model(mesh, history=mesh.fields[:2])
    expected = (
        mesh.fields[1]
        + out.delta * torch.tensor([2.0, 3.0])
        + torch.tensor([0.5, -1.0])
    )
    torch.testing.assert_close(out.fields, expected)
    torch.testing.assert_close(
        out.normalized, model.normalizer.normalize_fields(out.fields)
    )


def test_initial_and_rollout_shapes(model: FieldModel, mesh) -> None:
    first = model.initial(mesh)
    assert first.delta is None and first.fields.shape == (mesh.num_nodes, 2)
    generated = model.rollout(mesh, steps=3)
    assert generated.shape == (4, mesh.num_nodes, 2)
    torch.testing.assert_close(generated[0], first.fields)
    continued = model.rollout(mesh, steps=2, initial=mesh.fields[:2])
    assert continued.shape == (4, mesh.num_nodes, 2)
    torch.testing.assert_close(continued[:2], mesh.fields[:2])
    assert not continued.requires_grad


def test_rollout_matches_manual_steps(model: FieldModel, mesh) -> None:
    with torch.no_grad():
        trajectory = model.rollout(mesh, steps=2, initial=mesh.fields[:1])
        first = model(mesh, history=mesh.fields[:1])
        second = model(
            mesh, history=torch.stack([mesh.fields[0], first.fields]), state=first.state
        )
    torch.testing.assert_close(trajectory[1], first.fields)
    torch.testing.assert_close(trajectory[2], second.fields)


#: heads a rollout does not use, so they get no gradient from it: the initial head decodes the
#: first frame from the mesh alone (``model.initial``) and the query head decodes at arbitrary
#: points (``model.query``)
NOT_IN_ROLLOUT = ("initial_decoder.", "query_decoder.")


def _open_zero_gates(model: FieldModel) -> None:
    """Give the zero-initialized AdaLN-Zero and FiLM projections small random weights.

    At initialization these projections are zero, so every conditioned block adds nothing to
    the residual stream and the block weights (and the condition embedding that feeds the
    gates) get an exactly zero gradient. A trained model has open gates; opening them here lets
    the gradient show whether every part of the step takes part.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (AdaLNZero, FiLM)):
                torch.nn.init.normal_(module.linear.weight, std=0.1)
                torch.nn.init.normal_(module.linear.bias, std=0.1)


def test_rollout_with_grad(model: FieldModel, mesh) -> None:
    _open_zero_gates(model)
    model.train()
    trajectory = model.rollout(mesh, steps=2, initial=mesh.fields[:2], grad=True)
    trajectory[-1].square().mean().backward()
    params = dict(model.named_parameters())
    used = {
        name: p
        for name, p in params.items()
        if p.requires_grad and not name.startswith(NOT_IN_ROLLOUT)
    }
    assert len(used) > 10, sorted(used)
    none = [name for name, p in used.items() if p.grad is None]
    not_finite = [
        name for name, p in used.items() if p.grad is not None and not p.grad.isfinite().all()
    ]
    zero = [name for name, p in used.items() if p.grad is not None and not p.grad.any()]
    assert not none, f"parameters without a gradient: {none}"
    assert not not_finite, f"parameters with a non-finite gradient: {not_finite}"
    assert not zero, f"parameters with an all-zero gradient: {zero}"
    # the excluded heads really are outside the step (the exclusion hides nothing it uses)
    outside = [name for name in params if name.startswith(NOT_IN_ROLLOUT)]
    assert all(params[name].grad is None for name in outside), outside


def test_permutation_equivariance(model: FieldModel, mesh) -> None:
    assert_permutation_equivariant(model, mesh, atol=2e-5, rtol=1e-4)


def test_initial_head_is_permutation_equivariant(model: FieldModel, mesh) -> None:
    assert_permutation_equivariant(
        lambda data: model.initial(data), mesh, atol=2e-5, rtol=1e-4
    )


def test_batch_equals_separate_graphs(model: FieldModel) -> None:
    small, large = grid_mesh(6, seed=1, cond=0.5), grid_mesh(8, seed=2, cond=2.0)
    batch = Batch.from_data_list([small, large])
    with torch.no_grad():
        together = model(batch)
        apart = [model(small), model(large)]
        first_together = model.initial(batch)
        first_apart = [model.initial(small), model.initial(large)]
    torch.testing.assert_close(
        together.fields, torch.cat([o.fields for o in apart]), atol=2e-5, rtol=1e-4
    )
    torch.testing.assert_close(
        first_together.fields,
        torch.cat([o.fields for o in first_apart]),
        atol=2e-5,
        rtol=1e-4,
    )
    if together.state is not None:
        torch.testing.assert_close(
            together.state, torch.cat([o.state for o in apart]), atol=2e-5, rtol=1e-4
        )
    rolled = model.rollout(batch, steps=2, initial=batch.fields[:2])
    rolled_apart = torch.cat(
        [model.rollout(g, steps=2, initial=g.fields[:2]) for g in (small, large)], dim=1
    )
    torch.testing.assert_close(rolled, rolled_apart, atol=5e-5, rtol=1e-4)


def test_query_at_points(model: FieldModel, mesh) -> None:
    out = model(mesh)
    q = torch.rand(7, 2)
    values = model.query(q, out, mesh.pos)
    assert values.shape == (7, 2) and torch.isfinite(values).all()


def test_batched_query_equals_separate(model: FieldModel) -> None:
    small, large = grid_mesh(6, seed=1), grid_mesh(8, seed=2)
    batch = Batch.from_data_list([small, large])
    q = torch.rand(9, 2)
    q_batch = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1, 1])
    with torch.no_grad():
        together = model.query(
            q, model(batch), batch.pos, batch=batch.batch, query_batch=q_batch
        )
        for g, graph in enumerate((small, large)):
            alone = model.query(q[q_batch == g], model(graph), graph.pos)
            torch.testing.assert_close(
                together[q_batch == g], alone, atol=2e-5, rtol=1e-4
            )


def test_conditions_as_mapping_and_errors(model: FieldModel, mesh) -> None:
    with torch.no_grad():
        by_name = model(mesh, cond={"c": 1.0}).fields
        torch.testing.assert_close(by_name, model(mesh).fields)
        other = model(mesh, cond={"c": 3.0}).fields
    assert not torch.allclose(by_name, other)
    with pytest.raises(ValueError, match="missing \\['c'\\], unknown \\['Re'\\]"):
        model(mesh, cond={"Re": 1.0})
    del mesh.cond
    with pytest.raises(ValueError, match="needs the conditions \\['c'\\]"):
        model(mesh)


def test_bad_inputs(model: FieldModel, mesh) -> None:
    with pytest.raises(ValueError, match=r"input frames with shape \[h, 64, 2\]"):
        model(mesh, history=torch.zeros(2, 64, 3))
    fields = mesh.fields
    del mesh.fields
    with pytest.raises(ValueError, match="No input frames"):
        model(mesh)
    mesh.fields = fields
    mesh.boundary = mesh.boundary.clone()
    mesh.boundary[0] = 99
    with pytest.raises(ValueError, match="Boundary tags must be in"):
        model(mesh)
    with pytest.raises(ValueError, match="'steps' must be >= 0"):
        model.rollout(mesh, steps=-1)


def test_short_history_repeats_first_frame(model: FieldModel, mesh) -> None:
    with torch.no_grad():
        short = model(mesh, history=mesh.fields[:1]).fields
        padded = model(mesh, history=mesh.fields[:1].repeat(2, 1, 1)).fields
        single = model(mesh, history=mesh.fields[0]).fields
    torch.testing.assert_close(short, padded)
    torch.testing.assert_close(short, single)


def test_reset_parameters_keeps_normalizer(model: FieldModel) -> None:
    model.normalizer.set_stats(field_mean=[1.0, 2.0])
    model.reset_parameters()
    assert model.normalizer.field_mean.tolist() == [1.0, 2.0]


def test_repr(model: FieldModel) -> None:
    text = repr(model)
    assert text.startswith(type(model).__name__ + "(fields=['u', 'v'], cond=['c']")
