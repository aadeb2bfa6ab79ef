"""The registry of pretrained models: names, checkpoint folders, default meshes, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import meshfield
from meshfield import pretrained
from meshfield.api import generate, resolve_model
from meshfield.checkpoint import save_checkpoint
from meshfield.models import HMT, DecoderConfig, EncoderConfig, HMTConfig
from meshfield.nn import BackboneConfig

ASSETS = Path(meshfield.__file__).parent / "assets"

SPEC = {
    "case": "cylinder_wake",
    "pde": {"name": "navier_stokes", "constants": {"rho": 1.0, "U_inf": 1.0, "D": 1.0}},
    "time": {"spin_up": 25.0, "end": 44.8, "interval": 0.2},
    "fields": {"U": "m/s", "p": "m^2/s^2"},
}


def tiny_model() -> HMT:
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
    model.normalizer.set_stats(cond_min=[60.0], cond_max=[200.0])
    return model


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder of pretrained models in place of the package's."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    monkeypatch.setattr(pretrained, "PRETRAINED_ROOT", folder)
    return folder


def test_cylinder_wake_is_registered() -> None:
    assert "cylinder_wake" in pretrained.list_pretrained()
    entry = pretrained.PRETRAINED["cylinder_wake"]
    assert entry.folder == ASSETS / "pretrained" / "cylinder_wake"
    assert "meshfield train data/cylinder_wake --config configs/cylinder_wake_hybrid.json" in (
        entry.train_command
    )
    # every file the recipe names is in the repository
    repo = ASSETS.parents[1]
    for name in ("data_specs/cylinder_wake.yaml", "configs/cylinder_wake_hybrid.json"):
        assert name in entry.train_command and (repo / name).is_file()
    assert pretrained.pretrained_mesh("cylinder_wake") == entry.folder / "mesh.vtu"


def test_every_file_of_the_recipe_is_a_valid_config_or_spec() -> None:
    # every stage of the shipped model's recipe reads: its training configs build a
    # TrainConfig (unknown or ill-typed fields stop there) and its data specs load
    import json
    import re

    from meshfield.data import load_spec
    from meshfield.train import TrainConfig

    repo = ASSETS.parents[1]
    recipe = pretrained.PRETRAINED["cylinder_wake"].train_command
    configs = re.findall(r"configs/\S+\.json", recipe)
    specs = re.findall(r"data_specs/\S+\.yaml", recipe)
    assert len(configs) >= 2 and len(specs) >= 3
    for name in configs:
        config = TrainConfig.from_dict(json.loads((repo / name).read_text(encoding="utf-8")))
        assert config.model == "hmt"
    for name in specs:
        assert load_spec(repo / name).case == "cylinder_wake"


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"No pretrained model named 'cylinder'.*available: .*"
        r"cylinder_wake.*Did you mean 'cylinder_wake'",
    ):
        pretrained.pretrained_path("cylinder")
    with pytest.raises(ValueError, match="available: .*cylinder_wake"):
        pretrained.pretrained_mesh("airfoil_rans_xl")


def test_registered_but_not_installed(root: Path) -> None:
    with pytest.raises(
        FileNotFoundError,
        match=r"'cylinder_wake' is registered but not "
        r"installed.*lacks config.json, model.safetensors.*Make it with\nmeshfield datagen",
    ):
        pretrained.pretrained_path("cylinder_wake")
    with pytest.raises(FileNotFoundError, match="not installed"):
        generate(None, {"Re": 100}, model="cylinder_wake")


@pytest.mark.slow
def test_installed_model_and_its_default_mesh(root: Path) -> None:
    save_checkpoint(tiny_model(), root / "cylinder_wake", data_spec=SPEC)
    assert pretrained.pretrained_path("cylinder_wake") == root / "cylinder_wake"
    resolved = resolve_model("cylinder_wake")
    assert resolved.name == "cylinder_wake" and resolved.mesh == ASSETS / "cylinder.msh"
    result = generate(None, {"Re": 100}, model="cylinder_wake", steps=1)  # the bundled mesh
    assert result.fields.shape == (2, 1651, 3)
    assert result.residual_names == ["continuity", "momentum_x", "momentum_y"]
    torch.testing.assert_close(result.times, torch.tensor([25.0, 25.2]))


def test_mesh_beside_the_weights_wins(root: Path) -> None:
    folder = save_checkpoint(tiny_model(), root / "cylinder_wake")
    shutil.copy(ASSETS / "cylinder.msh", folder / "mesh.msh")
    assert pretrained.pretrained_mesh("cylinder_wake") == folder / "mesh.msh"


def test_checkpoint_folders_are_discovered(root: Path) -> None:
    save_checkpoint(tiny_model(), root / "my_case")
    (root / "not_a_model").mkdir()
    names = pretrained.list_pretrained()
    assert "my_case" in names and "cylinder_wake" in names and "not_a_model" not in names
    assert pretrained.pretrained_path("my_case") == root / "my_case"
    assert pretrained.pretrained_mesh("my_case") is None
    with pytest.raises(ValueError, match="no default mesh"):
        generate(None, {"Re": 100}, model="my_case")


def test_a_path_wins_over_a_name(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_checkpoint(tiny_model(), root / "cylinder_wake")
    monkeypatch.chdir(tmp_path)
    save_checkpoint(tiny_model(), tmp_path / "cylinder_wake", metadata={"local": True})
    resolved = resolve_model("cylinder_wake")
    assert resolved.name is None and resolved.info["metadata"] == {"local": True}


def test_one_resolver_for_names_run_folders_and_checkpoints(tmp_path) -> None:
    from meshfield.pretrained import pretrained_name_of, resolve_checkpoint

    shipped = resolve_checkpoint("cylinder_wake")
    assert (shipped / "config.json").is_file() and pretrained_name_of(shipped) == "cylinder_wake"
    run = tmp_path / "cylinder_wake"  # a run folder spelled like a pretrained name wins
    (run / "last").mkdir(parents=True)
    (run / "last" / "config.json").write_text("{}")
    assert resolve_checkpoint(run) == run / "last" and pretrained_name_of(run / "last") is None
    (run / "best").mkdir()
    (run / "best" / "config.json").write_text("{}")
    assert resolve_checkpoint(run) == run / "best"
    with pytest.raises(FileNotFoundError, match="is not a meshfield checkpoint"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="no pretrained model named 'nope'; pretrained models: "):
        resolve_checkpoint("nope")
