"""PhysicsRefiner: identity at the start, what fine-tuning trains, checkpoints with the refiner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from meshfield.checkpoint import CheckpointError
from meshfield.models import HMT
from meshfield.physics import Heat
from meshfield.physics.registry import pde_from_dict, pde_to_dict
from meshfield.refine.finetune import FinetuneConfig, finetune
from meshfield.refine.refiner import (
    BoundaryValue,
    PhysicsRefiner,
    RefinedModel,
    RefinerConfig,
    apply_refiner,
    load_refiner,
)

SPEC = {
    "case": "heat_plate",
    "description": "tiny heat plate",
    "mesh": {"generator": "plate_with_holes", "params": {"size": 0.3, "hole_size": 0.15}},
    "pde": {"name": "heat", "constants": {"T0": 0.0}},
    "conditions": {
        "alpha": {"units": "m^2/s", "train": [0.02, 0.05]},
        "T_left": {"units": "K", "train": [1.5, 1.0]},
        "T_hole": {"units": "K", "train": [-0.5, 0.5]},
    },
    "combine": "zip",
    "time": {"spin_up": 0.0, "end": 1.0, "interval": 0.25},
    "fields": {"T": "K"},
    "solver": {"name": "p1_fem", "settings": {"dt": 0.05}},
    "output": {"layout": "run_per_file", "dtype": "float32"},
}
BCS = (BoundaryValue("left", "T", "T_left"), BoundaryValue("holes", "T", "T_hole"))


@pytest.fixture(scope="module")
def runs() -> list:
    from meshfield.cases import heat_plate
    from meshfield.data import load_spec

    spec = load_spec(SPEC)
    return [heat_plate.simulate(spec, dict(r.conditions), Path(".")) for r in spec.runs()]


def tiny_model(graphs: list) -> HMT:
    torch.manual_seed(0)
    model = HMT(
        field_names=("T",),
        cond_names=tuple(graphs[0].cond_names),
        encoder={"fourier_features": 2, "num_boundary_tags": 8, "message_passing": 1},
        backbone={"d_model": 16, "pattern": "MA", "patch_size": 16, "num_heads": 2,
                  "mamba": {"d_state": 8, "headdim": 8, "chunk_size": 16, "backend": "torch"}},
        d_latent=8,
        decoder={"query_neighbors": 4, "query_hidden": 16},
    )
    model.normalizer.fit(graphs)
    return model.eval()


def refiner_for(model: HMT, *, randomize: bool = False) -> PhysicsRefiner:
    cfg = RefinerConfig(field_names=("T",), pde=pde_to_dict(Heat()), token_width=model.width,
                        hidden=8, domain_points=32, boundary_points=8, boundary=BCS)
    refiner = PhysicsRefiner(cfg)
    if randomize:
        torch.manual_seed(1)
        torch.nn.init.normal_(refiner.head[-1].weight, std=0.1)
    return refiner.eval()


@pytest.mark.slow
def test_a_new_refiner_is_the_identity(runs) -> None:
    model = tiny_model(runs)
    graph = runs[0]
    pred = model.rollout(graph, graph.fields.size(0) - 1, initial=graph.fields[:1])
    refined = apply_refiner(model, graph, pred, refiner=refiner_for(model))
    torch.testing.assert_close(refined, pred, atol=1e-6, rtol=1e-6)
    # a refiner with a non-zero head changes the predicted frames, never the initial one
    changed = apply_refiner(model, graph, pred, refiner=refiner_for(model, randomize=True))
    assert torch.equal(changed[0], pred[0])
    assert (changed[1:] - pred[1:]).abs().max() > 1e-4


def _states(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize("unfreeze_last", [0, 1])
def test_gradients_reach_only_the_unfrozen_parts(runs, unfreeze_last) -> None:
    model = tiny_model(runs)
    before = _states(model)
    cfg = FinetuneConfig(steps=2, calibration_steps=1, hidden=8, domain_points=32,
                         boundary_points=8, unfreeze_last=unfreeze_last, progress=False, lr=1e-2)
    result = finetune(model, runs[:1], Heat(), config=cfg, boundary=BCS)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    last = len(model.backbone.blocks) - 1
    allowed = ("query_decoder.",) + ((f"backbone.blocks.{last}.",) if unfreeze_last else ())
    assert changed, "nothing was trained"
    assert all(k.startswith(allowed) for k in changed), sorted(changed)
    assert any(k.startswith("query_decoder.") for k in changed)
    assert any(k.startswith("backbone.blocks.") for k in changed) == bool(unfreeze_last)
    # the refiner's zero head was trained away from the identity
    assert result.refiner.head[-1].weight.abs().max() > 0
    assert all(not p.requires_grad for p in model.parameters())


@pytest.mark.slow
def test_checkpoint_round_trip_with_the_refiner(runs, tmp_path) -> None:
    model = tiny_model(runs)
    refiner = refiner_for(model, randomize=True)
    refiner.residual_scale.fill_(0.3)
    graph = runs[1]
    pred = model.rollout(graph, graph.fields.size(0) - 1, initial=graph.fields[:1])
    pair = RefinedModel(model, refiner)
    expected = pair.refine(graph, pred)
    torch.testing.assert_close(apply_refiner(model, graph, pred, refiner=refiner), expected)
    path = pair.save(tmp_path / "refined")
    assert {"model.safetensors", "config.json", "refiner.safetensors", "refiner.json"} <= {
        p.name for p in path.iterdir()
    }
    # one module: both halves come back from the one folder, and with them the same result
    again = RefinedModel.load(path)
    assert again.refiner.config == refiner.config and not again.training
    assert again.state_dict().keys() == pair.state_dict().keys()
    for key, value in pair.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    assert torch.equal(apply_refiner(again, graph, pred), expected)
    # the same pair, untrained, from its configuration alone
    built = RefinedModel.from_config(json.loads(json.dumps(pair.config)))
    assert built.config == pair.config
    assert built.state_dict().keys() == pair.state_dict().keys()
    # a model without its refiner cannot be refined
    with pytest.raises(ValueError, match="no refiner"):
        apply_refiner(model, graph, pred)
    # a tampered weights file is refused, never unpickled
    weights = path / "refiner.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="modified"):
        load_refiner(path)
    info = json.loads((path / "refiner.json").read_text())
    info["format"] = "pickle"
    (path / "refiner.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="not a meshfield refiner"):
        load_refiner(path)


def test_config_and_boundary_values() -> None:
    assert BoundaryValue.parse("cylinder:U_x=0,U_y=0") == [
        BoundaryValue("cylinder", "U_x", 0.0), BoundaryValue("cylinder", "U_y", 0.0)
    ]
    assert BoundaryValue.parse("left:T=T_left") == [BoundaryValue("left", "T", "T_left")]
    with pytest.raises(ValueError, match="group:field=value"):
        BoundaryValue.parse("left")
    cfg = RefinerConfig(field_names=("T",), pde=pde_to_dict(Heat(alpha=0.1)), token_width=8,
                        boundary=BCS)
    assert RefinerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert pde_from_dict(cfg.pde) == Heat(alpha=0.1)
    with pytest.raises(ValueError, match="unknown field"):
        RefinerConfig(field_names=("T",), pde=cfg.pde, token_width=8,
                      boundary=(BoundaryValue("left", "p", 0.0),))
    with pytest.raises(ValueError, match="pooling"):
        RefinerConfig(field_names=("T",), pde=cfg.pde, token_width=8, pooling="max")


def test_a_projection_only_refiner_projects_and_nothing_else(runs) -> None:
    from meshfield.physics import MeshOperators
    from meshfield.physics.projection import project_residual

    model = tiny_model(runs)
    graph = runs[0]
    pred = model.rollout(graph, graph.fields.size(0) - 1, initial=graph.fields[:1]).detach()
    cfg = RefinerConfig(field_names=("T",), pde=pde_to_dict(Heat()), token_width=model.width,
                        learned=False, projection=2.0, projection_iterations=5)
    refiner = PhysicsRefiner(cfg)
    torch.nn.init.normal_(refiner.head[-1].weight, std=0.1)  # a learned part that is not used
    cond = dict(zip(graph.cond_names, graph.cond.tolist(), strict=True))
    by_hand = project_residual(pred, Heat(), MeshOperators.from_data(graph),
                               scale=model.normalizer.field_std, weight=2.0, iterations=5,
                               times=graph.times, cond=cond, field_names=["T"])
    torch.testing.assert_close(apply_refiner(model, graph, pred, refiner=refiner), by_hand.fields)
    assert by_hand.r_after < by_hand.r_before
    # a channel of zero spread (a constant field) divides as 1, as in the normalizer
    model.normalizer.field_std.zero_()
    out = apply_refiner(model, graph, pred, refiner=refiner)
    assert torch.isfinite(out).all() and not torch.equal(out, pred)
    # a two-frame trajectory has no time derivative to project with: returned as given
    torch.testing.assert_close(apply_refiner(model, graph, pred[:2], refiner=refiner), pred[:2])


def test_deprecated_attach_and_get_refiner(runs) -> None:
    from meshfield.refine.refiner import attach_refiner, get_refiner

    model = tiny_model(runs)
    refiner = refiner_for(model)
    with pytest.warns(DeprecationWarning, match="RefinedModel"):
        pair = attach_refiner(model, refiner)
    assert isinstance(pair, RefinedModel) and pair.refiner is refiner and pair.model is model
    with pytest.warns(DeprecationWarning):
        assert get_refiner(pair) is refiner
    with pytest.warns(DeprecationWarning):
        assert get_refiner(model) is None
