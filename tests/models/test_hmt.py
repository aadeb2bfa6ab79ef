"""HMT specifics: configuration, conditioning, the temporal memory, point queries."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import tiny_hmt_config

from meshfield.models import HMT, HMTConfig
from meshfield.nn import BackboneConfig


def test_config_recorded_and_from_config() -> None:
    config = tiny_hmt_config()
    model = HMT.from_config(config)
    assert model.config is config
    assert HMT(config).config == HMT(**vars(config)).config
    assert HMT(config, history=3).config.history == 3
    with pytest.raises(TypeError, match="Expected an HMTConfig"):
        HMT({"field_names": ("u",)})


def test_backbone_conditioning_width_is_set() -> None:
    config = tiny_hmt_config()
    assert config.backbone.d_cond == config.width
    plain = tiny_hmt_config(cond_names=(), d_latent=0)
    assert plain.backbone.d_cond == 0
    model = HMT(plain)
    assert model.temporal is None and model.cond_embedding is None


def test_default_sizes(mesh) -> None:
    config = HMTConfig(field_names=("u", "v"), cond_names=("c",))
    assert config.width == 128 and config.backbone.pattern == "MMAMMA"
    assert config.encoder.message_passing == 2 and config.d_latent == 64
    with torch.no_grad():
        assert HMT(config)(mesh).fields.shape == (64, 2)


def test_state_changes_the_prediction(mesh) -> None:
    model = HMT(tiny_hmt_config()).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.backbone.blocks[0].adaln.linear.weight, std=0.5)
        fresh = model(mesh)
        _, past = model.temporal(torch.randn(64, 16) * 3)
        remembered = model(mesh, state=past)
    assert not torch.allclose(fresh.fields, remembered.fields)
    assert not torch.allclose(fresh.state, remembered.state)


@pytest.mark.parametrize("d_latent", [0, 8])
def test_memory_reaches_beyond_the_history_window(mesh, d_latent: int) -> None:
    # history=1: step 2 reads only frame 1; what differed at step 1 reaches it through the state
    model = HMT(tiny_hmt_config(history=1, d_latent=d_latent)).eval()
    with torch.no_grad():
        for block in model.backbone.blocks:
            torch.nn.init.normal_(block.adaln.linear.weight, std=0.5)
        frame = mesh.fields[1]
        past_a = model(mesh, history=mesh.fields[0]).state
        past_b = model(mesh, history=mesh.fields[0] + 1.0).state
        a = model(mesh, history=frame, state=past_a).fields
        b = model(mesh, history=frame, state=past_b).fields
    assert torch.equal(a, b) == (d_latent == 0)


def test_conditions_modulate_the_backbone(mesh) -> None:
    model = HMT(tiny_hmt_config()).eval()
    with torch.no_grad():
        for block in model.backbone.blocks:
            torch.nn.init.normal_(block.adaln.linear.weight, std=0.5)
        model.encoder.node_mlp[0].weight[
            :, -1
        ].zero_()  # hide the condition from the encoder
        a = model(mesh, cond={"c": 0.0}).fields
        b = model(mesh, cond={"c": 5.0}).fields
    assert not torch.allclose(a, b)


def test_query_derivatives_through_the_model(mesh) -> None:
    model = HMT(tiny_hmt_config()).double().eval()
    mesh.pos, mesh.fields = mesh.pos.double(), mesh.fields.double()
    mesh.cond = mesh.cond.double()
    out = model(mesh)
    q = torch.tensor(
        [[0.33, 0.41], [0.71, 0.64]], dtype=torch.float64, requires_grad=True
    )
    u = model.query(q, out, mesh.pos)[:, 0]
    (grad,) = torch.autograd.grad(u.sum(), q, create_graph=True)
    (second,) = torch.autograd.grad(grad[:, 1].sum(), q)
    assert torch.isfinite(second).all() and (second.abs() > 0).any()
    eps = 1e-6
    with torch.no_grad():
        step = torch.tensor([[0.0, eps]], dtype=torch.float64)
        fd = (
            model.query(q + step, out, mesh.pos)[:, 0]
            - model.query(q - step, out, mesh.pos)[:, 0]
        ) / (2 * eps)
    torch.testing.assert_close(grad[:, 1], fd, rtol=1e-5, atol=1e-7)


def test_query_uses_physical_units(mesh) -> None:
    model = HMT(tiny_hmt_config()).eval()
    out = model(mesh)
    base = model.query(mesh.pos[:5], out, mesh.pos)
    model.normalizer.set_stats(field_mean=[10.0, -10.0])
    shifted = model.query(mesh.pos[:5], out, mesh.pos)
    torch.testing.assert_close(
        shifted - base, torch.tensor([[10.0, -10.0]]).expand(5, 2)
    )


def test_backbone_options_pass_through() -> None:
    config = tiny_hmt_config(
        backbone=BackboneConfig(
            d_model=16,
            pattern="AMA",
            attention="linear",
            num_heads=2,
            mamba={"headdim": 8},
        )
    )
    model = HMT(config)
    assert [block.kind for block in model.backbone.blocks] == ["A", "M", "A"]
