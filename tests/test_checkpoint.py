"""Checkpoints: round trips, no unpickling, atomic writes, clear errors for damaged files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import meshfield
from meshfield.checkpoint import (
    CheckpointInfo,
    CheckpointError,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from meshfield.models import HMT, MeshGraphNet, Transformer, build_model

sys.path.insert(0, str(Path(__file__).parent / "models"))
from _model_helpers import grid_mesh, tiny_hmt_config


def _models() -> dict[str, torch.nn.Module]:
    common = {
        "field_names": ("u", "v"),
        "cond_names": ("c",),
        "history": 2,
        "width": 16,
    }
    return {
        "hmt": HMT(tiny_hmt_config()),
        "hmt-no-mamba": build_model("hmt-no-mamba", **vars(tiny_hmt_config())),
        "meshgraphnet": MeshGraphNet(num_layers=2, **common),
        "transformer": Transformer(num_layers=2, num_heads=2, **common),
    }


@pytest.fixture
def mesh():
    return grid_mesh()


@pytest.fixture
def trained(mesh) -> HMT:
    model = HMT(tiny_hmt_config())
    model.normalizer.fit([mesh, grid_mesh(seed=3, cond=2.0)])
    with torch.no_grad():  # weights other than the initialization, as after training
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    return model.eval()


@pytest.mark.parametrize("name", ["hmt", "hmt-no-mamba", "meshgraphnet", "transformer"])
def test_round_trip_identical_outputs(
    name: str, mesh, tmp_path: Path, monkeypatch
) -> None:
    model = _models()[name].eval()
    model.normalizer.fit([mesh])
    path = save_checkpoint(
        model, tmp_path / "run", data_spec={"case": "wave"}, metadata={"epoch": 3}
    )

    def no_pickle(*args, **kwargs):
        raise AssertionError("torch.load must not be called")

    monkeypatch.setattr(torch, "load", no_pickle)
    loaded = load_model(path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.config == model.config
    with torch.no_grad():
        expected, actual = model(mesh), loaded(mesh)
        torch.testing.assert_close(actual.fields, expected.fields, rtol=0, atol=0)
        torch.testing.assert_close(
            loaded.rollout(mesh, 2), model.rollout(mesh, 2), rtol=0, atol=0
        )
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_config_json_contents(trained: HMT, tmp_path: Path) -> None:
    path = save_checkpoint(
        trained, tmp_path / "run", data_spec={"case": "wave", "n": 8}
    )
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    info = read_checkpoint(path)
    assert info["kind"] == "hmt"
    assert info["field_names"] == ["u", "v"] and info["cond_names"] == ["c"]
    assert info["cond_ranges"] == {"c": [1.0, 2.0]}
    assert info["data_spec"] == {"case": "wave", "n": 8}
    assert info["config"]["backbone"]["pattern"] == "MA"
    assert info["normalization"]["field_std"] == trained.normalizer.field_std.tolist()
    assert len(info["weights"]["sha256"]) == 64
    # the file is plain JSON a person can read
    json.loads((path / "config.json").read_text())


def test_top_level_load_model(trained: HMT, tmp_path: Path) -> None:
    path = meshfield.save_checkpoint(trained, tmp_path / "run")
    assert isinstance(meshfield.load_model(path), HMT)


def test_overwrite_is_atomic_and_guarded(trained: HMT, tmp_path: Path) -> None:
    path = save_checkpoint(trained, tmp_path / "run")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_checkpoint(trained, path, overwrite=False)
    other = HMT(tiny_hmt_config())
    save_checkpoint(other, path)
    torch.testing.assert_close(
        load_model(path).state_dict()["decoder.mlp.0.weight"],
        other.state_dict()["decoder.mlp.0.weight"],
    )
    # no temporary or backup directory is left beside it
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a meshfield checkpoint"):
        save_checkpoint(trained, tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_failed_save_leaves_nothing(trained: HMT, tmp_path: Path, monkeypatch) -> None:
    import safetensors.torch

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(trained, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_truncated_weights(trained: HMT, tmp_path: Path) -> None:
    path = save_checkpoint(trained, tmp_path / "run")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="model.safetensors is truncated"):
        load_model(path)


def test_tampered_weights(trained: HMT, tmp_path: Path) -> None:
    path = save_checkpoint(trained, tmp_path / "run")
    weights = path / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="model.safetensors was modified"):
        load_model(path)


def test_garbage_weights_with_matching_record(trained: HMT, tmp_path: Path) -> None:
    # a file that passes the recorded size and hash check but is no safetensors file
    path = save_checkpoint(trained, tmp_path / "run")
    weights = path / "model.safetensors"
    weights.write_bytes(b"\x00" * 64)
    info = json.loads((path / "config.json").read_text())
    info["weights"] = {"file": "model.safetensors"}
    (path / "config.json").write_text(json.dumps(info))
    with pytest.raises(
        CheckpointError, match="model.safetensors is not a readable safetensors"
    ):
        load_model(path)


def _edit_config(path: Path, edit) -> None:
    info = json.loads((path / "config.json").read_text())
    edit(info)
    (path / "config.json").write_text(json.dumps(info))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda i: i.update(format="other"), "not a meshfield checkpoint"),
        (lambda i: i.update(version=99), "checkpoint version 99"),
        (lambda i: i.pop("normalization"), r"lacks \['normalization'\]"),
        (lambda i: i.update(kind="unet"), "Unknown model kind 'unet'"),
        (
            lambda i: i.update(field_names=["p", "q"]),
            r"field_names \['p', 'q'\] differ",
        ),
        (lambda i: i.update(cond_names=[]), r"cond_names \[\] differ"),
        (lambda i: i["config"].update(width=3), r"bad 'config'.*no fields \['width'\]"),
        (lambda i: i["config"]["backbone"].update(d_model=24), "does not describe the weights"),
        # a crafted width or depth is refused before anything that large is allocated
        (
            lambda i: i["config"]["backbone"].update(d_model=200_000),
            r"does not describe the weights: .* of another shape",
        ),
        (
            lambda i: i["config"]["backbone"].update(pattern="MA" * 200),
            r"does not describe the weights: \d+ tensors missing",
        ),
        (
            lambda i: i["normalization"].update(field_mean=[9.0, 9.0]),
            "normalization statistics differ",
        ),
        (lambda i: i["weights"].update(file="../x.safetensors"), "outside"),
    ],
)
def test_inconsistent_config(trained: HMT, tmp_path: Path, edit, match: str) -> None:
    path = save_checkpoint(trained, tmp_path / "run")
    _edit_config(path, edit)
    with pytest.raises(CheckpointError, match=match) as info:
        load_model(path)
    assert "config.json" in str(info.value) or "model.safetensors" in str(info.value)


def test_malformed_json(trained: HMT, tmp_path: Path) -> None:
    path = save_checkpoint(trained, tmp_path / "run")
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        load_model(path)


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No meshfield checkpoint"):
        load_model(tmp_path / "nothing")


def test_missing_weights(trained: HMT, tmp_path: Path) -> None:
    path = save_checkpoint(trained, tmp_path / "run")
    (path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        load_model(path)


def test_checkpoints_have_the_usual_permissions(tmp_path: Path) -> None:
    """safetensors and mkdtemp make private files; a checkpoint is shared like any folder."""
    import os
    import stat

    from meshfield.models import MeshGraphNet

    path = save_checkpoint(MeshGraphNet(field_names=("p",), width=8, num_layers=1), tmp_path / "c")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~mask
    for written in path.iterdir():
        assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~mask, written


def test_saving_a_loaded_model_again_keeps_its_data_spec(tmp_path: Path) -> None:
    """A fine-tuned checkpoint written from a loaded model still knows its PDE and times."""
    from meshfield.models import MeshGraphNet

    spec = {"case": "heat_plate", "pde": {"name": "heat"}, "time": {"interval": 0.25}}
    first = save_checkpoint(
        MeshGraphNet(field_names=("T",), width=8, num_layers=1), tmp_path / "a", data_spec=spec
    )
    model = meshfield.load_model(first)
    assert model.data_spec == spec
    again = save_checkpoint(model, tmp_path / "b")
    assert json.loads((again / "config.json").read_text())["data_spec"] == spec
    other = {"case": "other"}
    third = save_checkpoint(model, tmp_path / "c", data_spec=other)
    assert json.loads((third / "config.json").read_text())["data_spec"] == other


def test_checkpoint_info_parses_what_generate_reads(tmp_path: Path) -> None:
    from meshfield.pretrained import resolve_checkpoint

    info = CheckpointInfo.read(resolve_checkpoint("cylinder_wake"))
    assert info.kind == "hmt" and info.field_names == ("U_x", "U_y", "p")
    assert info.cond_names == ("Re",) and info.cond_ranges == {"Re": (60.0, 200.0)}
    assert info.units == {"U": "m/s", "p": "m^2/s^2"}
    time = info.time
    assert (time.spin_up, time.interval) == (25.0, 0.2)
    torch.testing.assert_close(
        info.times(3), torch.tensor([25.0, 25.2, 25.4], dtype=torch.float64)
    )
    # generate's frames carry exactly these times and units
    result = meshfield.generate(None, {"Re": 150.0}, steps=2, residual=False)
    torch.testing.assert_close(result.times.double(), info.times(3).to(result.times.dtype).double())
    assert result.units == info.units


def test_checkpoint_info_ignores_entries_of_the_wrong_kind() -> None:
    info = CheckpointInfo.from_dict(
        {
            "kind": "hmt",
            "field_names": ["u"],
            "cond_names": ["Re", "Ma"],
            "cond_ranges": {"Re": [1, None], "Ma": ["low", 2], "x": [1, 2, 3], "y": [True, 2]},
            "data_spec": ["not", "a", "mapping"],
            "metadata": "text",
        }
    )
    assert info.cond_ranges == {"Re": (1.0, None)}
    assert info.data_spec is None and info.spec == {} and info.metadata == {}
    assert info.time is None and info.units == {}
    assert info.times(3).tolist() == [0.0, 1.0, 2.0]
    # a time window of the wrong kind is no time window
    broken = CheckpointInfo.from_dict({"data_spec": {"time": {"interval": "soon"}}})
    assert broken.time is None
