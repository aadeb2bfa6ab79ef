"""The meshfield command: help for every subcommand, generate end to end, info."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import pyvista as pv
import torch

import meshfield
from meshfield import pretrained
from meshfield.checkpoint import save_checkpoint
from meshfield.cli import build_parser, main
from meshfield.models import HMT, DecoderConfig, EncoderConfig, HMTConfig
from meshfield.nn import BackboneConfig
from meshfield.result import FieldResult

CYLINDER = Path(meshfield.__file__).parent / "assets" / "cylinder.msh"

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
    model.normalizer.set_stats(
        field_mean=[0.5, 0.0, 0.1],
        cond_mean=[130.0],
        cond_std=[40.0],
        cond_min=[60.0],
        cond_max=[200.0],
    )
    return model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "ck"
    return save_checkpoint(tiny_model(), path, data_spec=SPEC, metadata={"epoch": 7})


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mesh = pv.Plane(i_size=2.0, j_size=1.0, i_resolution=6, j_resolution=4).triangulate()
    mesh.clear_data()
    path = tmp_path_factory.mktemp("mesh") / "plane.vtu"
    pv.UnstructuredGrid(mesh).save(path)
    return path


def _subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


# ------------------------------------------------------------------------------------------
# help


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    names = _subcommands()
    assert {"generate", "info"} <= set(names)
    for name in names:
        assert f"\n    {name}" in text, name


@pytest.mark.parametrize("name", _subcommands())
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: meshfield {name}" in capsys.readouterr().out


def test_generate_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--mesh",
        "--model",
        "--cond",
        "--steps",
        "--out",
        "--residual-map",
        "--field",
        "--refine",
        "--initial",
        "--boundary",
        "--compile",
    ):
        assert option in text


def test_commands_are_listed_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    from meshfield.cli import COMMANDS

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    names = [module.__name__.rsplit(".", 1)[1] for module in COMMANDS]
    assert sorted(names) == _subcommands()
    assert [text.index(f"\n    {name}") for name in names] == sorted(
        text.index(f"\n    {name}") for name in names
    )


def _train_options() -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices["train"]._actions}


def test_train_options_are_the_config_fields() -> None:
    import dataclasses

    from meshfield.train.config import NOT_OPTIONS, TrainConfig, config_from_args

    options = _train_options()
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    generated = fields - NOT_OPTIONS
    # every field but the few set otherwise is an option of its name, read by config_from_args
    assert generated <= set(options)
    assert not NOT_OPTIONS & set(options)
    assert all(options[name].default is None for name in generated)
    given = {"model": "meshgraphnet", "width": 12, "epochs": 3, "batch_size": 2, "lr": 0.5, "seed": 7,
             "noise_std": 0.25, "device": "cpu", "init_from": "somewhere", "patience": 4}
    assert set(given) <= generated
    parsed = build_parser().parse_args(
        ["train", "data", "--out", "run", *(x for k, v in given.items()
                                            for x in ("--" + k.replace("_", "-"), str(v)))]
    )
    assert {k: getattr(config_from_args(parsed), k) for k in given} == given
    assert options["batch_size"].option_strings == ["--batch-size"]
    assert options["batch_size"].type is int and options["lr"].type is float
    assert options["pushforward_grad"].nargs == 0 and options["extra_data"].metavar == "FOLDER"
    # the help is the field's docstring entry
    assert options["epochs"].help == "passes over the training windows (default: 20)"
    assert "default: 1e-3" in options["lr"].help
    assert "0 for none" in options["grad_clip"].help
    assert "'all'" in options["state_warmup"].help
    assert options["device"].help.startswith("auto, cpu, cuda or cuda:N: ")

    parser = build_parser()
    args = parser.parse_args(
        ["train", "data", "--out", "run", "--batch-size", "8", "--grad-clip", "0",
         "--state-warmup", "all", "--extra-data", "a", "--extra-data", "b", "--compile",
         "--model-options", '{"num_layers": 2}']
    )
    config = config_from_args(args)
    assert (config.batch_size, config.grad_clip, config.state_warmup) == (8, None, None)
    assert config.extra_data == ("a", "b") and config.compile is True
    assert dict(config.model_options) == {"num_layers": 2} and config.out_dir == "run"
    assert config_from_args(parser.parse_args(["train", "data", "--out", "run"])).lr == 1e-3


def test_train_options_without_docstrings() -> None:
    import dataclasses

    from meshfield.cli._options import config_options as _config_options
    from meshfield.cli._options import parameter_docs as _parameter_docs

    @dataclasses.dataclass
    class Plain:
        steps: int = 3
        rate: float | None = None
        names: tuple[str, ...] = ()
        fast: bool = False

    Plain.__doc__ = None  # as under python -OO
    assert _parameter_docs(Plain) == {}
    assert [(name, kind) for name, kind, _ in _config_options(Plain)] == [
        ("steps", int), ("rate", float), ("names", tuple), ("fast", bool)
    ]
    assert _config_options(Plain)[0][2] == "the steps field of Plain"


def test_finetune_options_are_the_config_fields() -> None:
    import dataclasses

    from meshfield.cli.finetune import _NOT_OPTIONS, _config_fields
    from meshfield.refine.finetune import FinetuneConfig

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = {a.dest: a for a in sub.choices["finetune"]._actions}
    fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
    assert set(_config_fields()) == fields - _NOT_OPTIONS <= set(options)
    assert options["w_data"].help == "weight of the distance to the pretrained field (default: 10)"
    assert options["projection"].type is float and options["steps"].type is int
    # a field whose default is True can be turned off
    args = parser.parse_args(["finetune", "ck", "data", "--pde", "heat", "--out", "o",
                              "--no-train-query-decoder", "--grad-clip", "0", "--w-bc", "2"])
    assert (args.train_query_decoder, args.grad_clip, args.w_bc, args.steps) == (False, 0.0, 2.0, None)


@pytest.mark.slow
def test_finetune_projection_only_end_to_end(
    heat_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from meshfield.data import load_dataset

    train = list(load_dataset(heat_data, split="train"))
    model = HMT(HMTConfig(
        field_names=("T",), cond_names=tuple(train[0].cond_names),
        encoder=EncoderConfig(fourier_features=2, num_boundary_tags=8, message_passing=1),
        backbone=BackboneConfig(d_model=16, pattern="MA", patch_size=16, num_heads=2,
                                mamba={"d_state": 8, "headdim": 8, "chunk_size": 16,
                                       "backend": "torch"}),
        d_latent=8, decoder=DecoderConfig(query_neighbors=4, query_hidden=16),
    ))
    model.normalizer.fit(train)
    checkpoint = save_checkpoint(model, tmp_path / "ck")
    out = tmp_path / "refined"
    code = main(["finetune", str(checkpoint), str(heat_data), "--pde", "heat", "--out", str(out),
                 "--steps", "0", "--calibration-steps", "0", "--projection", "1", "--quiet",
                 "--report", str(tmp_path / "report.json")])
    text = capsys.readouterr().out
    assert code == 0, text
    stored = json.loads((out / "refiner.json").read_text())["config"]
    assert (stored["learned"], stored["projection"], stored["projection_iterations"]) == (
        False, 1.0, 20)
    # the before/after table of the test run, printed and written: R lower after projecting
    (row,) = json.loads((tmp_path / "report.json").read_text())
    assert row["after"]["R"] < row["before"]["R"] / 2 and row["r_factor"] > 2, row
    assert f"{row['r_factor']:.2f}x" in text


# ------------------------------------------------------------------------------------------
# generate


@pytest.mark.slow
def test_generate_end_to_end(
    checkpoint: Path, plane: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, picture = tmp_path / "out" / "wake.pvd", tmp_path / "residual.png"
    argv = [
        "generate",
        str(plane),
        "--model",
        str(checkpoint),
        "--cond",
        "Re=150",
        "--steps",
        "3",
        "--out",
        str(out),
        "--residual-map",
        str(picture),
        "--field",
        "p",
        "--quiet",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "35 nodes" in text and "4 frames" in text and "t = 25 .. 25.6" in text
    assert "continuity" in text and "momentum_y" in text
    assert f"wrote      {out}" in text and f"wrote      {picture}" in text
    result = FieldResult.load(out)
    assert result.fields.shape == (4, 35, 3)
    assert result.residual_names == ["continuity", "momentum_x", "momentum_y"]
    assert result.cond == {"Re": 150.0}
    expected = meshfield.generate(plane, {"Re": 150}, model=checkpoint, steps=3)
    torch.testing.assert_close(result.fields, expected.fields)
    assert picture.stat().st_size > 1000


def test_generate_with_mesh_option_and_single_step_file(
    checkpoint: Path, plane: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "last.vtu"
    argv = [
        "generate",
        "--mesh",
        str(plane),
        "--model",
        str(checkpoint),
        "--cond",
        "Re=90",
        "--steps",
        "2",
        "--out",
        str(out),
        "--no-residual",
        "--quiet",
    ]
    assert main(argv) == 0
    assert "residual   not computed" in capsys.readouterr().out
    assert FieldResult.load(out).fields.shape == (1, 35, 3)


@pytest.mark.slow
def test_generate_readme_command_on_the_default(
    plane: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``meshfield generate --model cylinder_wake --cond Re=150 --out wake.pvd
    --residual-map residual.png`` on the bundled mesh (a tiny model stands in for the weights)."""
    monkeypatch.setattr(pretrained, "PRETRAINED_ROOT", tmp_path / "pretrained")
    save_checkpoint(tiny_model(), tmp_path / "pretrained" / "cylinder_wake", data_spec=SPEC)
    monkeypatch.chdir(tmp_path)
    argv = [
        "generate",
        "--model",
        "cylinder_wake",
        "--cond",
        "Re=150",
        "--out",
        "wake.pvd",
        "--residual-map",
        "residual.png",
        "--steps",
        "1",
        "--quiet",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "default mesh of the model: 1651 nodes" in text
    assert (tmp_path / "wake.pvd").is_file() and (tmp_path / "residual.png").stat().st_size > 1000


def test_generate_errors(
    checkpoint: Path, plane: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["generate", str(plane), "--model", str(checkpoint), "--out", str(tmp_path / "a.pvd")]
    cases = {
        "missing ['Re']": [],
        "unknown ['Ma']": ["--cond", "Re=100", "--cond", "Ma=0.3"],
        "NAME=VALUE": ["--cond", "Re"],
        "'fast' is not a number": ["--cond", "Re=fast"],
        "given twice": ["--cond", "Re=100", "--cond", "Re=120"],
        "two meshes given": ["--cond", "Re=100", "--mesh", str(CYLINDER)],
        "--boundary expects NAME=TRAINED": ["--cond", "Re=100", "--boundary", "top"],
        "--boundary top is given twice": [
            "--cond", "Re=100", "--boundary", "top=walls", "--boundary", "top=inlet"
        ],
        "the mesh has no boundary group ['nowhere']": [
            "--cond", "Re=100", "--boundary", "nowhere=walls"
        ],
    }
    for message, extra in cases.items():
        assert main(base + extra) == 2, message
        assert message in capsys.readouterr().err, message
    assert (
        main(
            [
                "generate",
                str(plane),
                "--model",
                str(checkpoint),
                "--cond",
                "Re=100",
                "--out",
                str(tmp_path / "a.png"),
            ]
        )
        == 2
    )
    assert "expected one of .pvd" in capsys.readouterr().err
    assert main(["generate", str(plane), "--model", "no_such_model", "--cond", "Re=100"]) == 2
    assert "pretrained models: " in capsys.readouterr().err
    assert not (tmp_path / "a.pvd").exists()


def test_generate_warns_on_extrapolation(
    checkpoint: Path, plane: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "generate",
        str(plane),
        "--model",
        str(checkpoint),
        "--cond",
        "Re=400",
        "--steps",
        "1",
        "--out",
        str(tmp_path / "x.pvd"),
        "--quiet",
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "warning: Re=400 is outside the range" in err
    assert "deprecated" not in err


# ------------------------------------------------------------------------------------------
# info


def test_info_on_a_checkpoint(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(checkpoint)]) == 0
    text = capsys.readouterr().out
    parameters = sum(p.numel() for p in meshfield.load_model(checkpoint).parameters())
    assert f"HMT (hmt), {parameters:,} parameters" in text
    assert "width 16, history 1, 2D, pattern MA" in text
    assert "U_x, U_y, p  (U: m/s, p: m^2/s^2)" in text
    assert "Re in [60, 200] (training range)" in text
    assert "U_x 0.5+-1" in text and "Re 130+-40" in text
    assert "pde navier_stokes (rho=1.0, U_inf=1.0, D=1.0)" in text
    assert "epoch=7" in text and "model.safetensors" in text


def test_info_on_a_run_folder_and_a_pretrained_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    save_checkpoint(tiny_model(), tmp_path / "run" / "best")
    assert main(["info", str(tmp_path / "run")]) == 0
    text = capsys.readouterr().out
    assert str(tmp_path / "run" / "best") in text and "spec         none" in text

    monkeypatch.setattr(pretrained, "PRETRAINED_ROOT", tmp_path / "pretrained")
    assert main(["info", "cylinder_wake"]) == 2
    assert "registered but not installed" in capsys.readouterr().err
    save_checkpoint(tiny_model(), tmp_path / "pretrained" / "cylinder_wake", data_spec=SPEC)
    assert main(["info", "cylinder_wake"]) == 0
    text = capsys.readouterr().out
    assert "(pretrained 'cylinder_wake')" in text and f"default mesh {CYLINDER}" in text


def test_info_on_a_mesh(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(CYLINDER)]) == 0
    text = capsys.readouterr().out
    assert "nodes        1651 (2D)" in text
    assert "inlet" in text and "cylinder" in text


def test_convert_mesh_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A result file back to its bare mesh: points, cells and boundary groups, no values."""
    result_file = tmp_path / "result.vtu"
    mesh = meshfield.load_mesh(CYLINDER, cond={"Re": 100.0})
    mesh.fields = torch.rand(1, mesh.num_nodes, 2)
    mesh.field_names = ["T", "c"]
    mesh.times = torch.zeros(1)
    meshfield.save(mesh, result_file)
    assert main(["convert", str(result_file), str(tmp_path / "full.vtu")]) == 0
    assert main(["convert", str(result_file), str(tmp_path / "bare.vtu"), "--mesh-only"]) == 0
    assert "bare.vtu" in capsys.readouterr().out
    full = meshfield.load_mesh(tmp_path / "full.vtu")
    bare = meshfield.load_mesh(tmp_path / "bare.vtu")
    assert "fields" in full and "fields" not in bare and "cond" not in bare
    assert torch.equal(bare.pos, mesh.pos) and torch.equal(bare.boundary, mesh.boundary)
    assert bare.boundary_names == mesh.boundary_names


# ------------------------------------------------------------------------------------------
# errors: one line, exit code 2, the traceback only with --debug


def test_unreadable_mesh_is_one_line_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    bad = tmp_path / "bad.vtu"
    bad.write_text(
        '<?xml version="1.0"?>\n<VTKFile type="UnstructuredGrid" version="0.1"><UnstructuredGrid>'
        '<Piece NumberOfPoints="3" NumberOfCells="1"><Points><DataArray type="Float32" '
        'NumberOfComponents="3" format="ascii">0 0 0 1 0</DataArray></Points></Piece>'
        "</UnstructuredGrid></VTKFile>\n"
    )
    handlers = list(logging.getLogger().handlers)
    for command in (
        ["info", str(bad)],
        ["convert", str(bad), str(tmp_path / "out.vtu")],
        ["plot", str(bad), "--out", str(tmp_path / "x.png")],
    ):
        assert main(command) == 2, command
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, (command, captured.err)
        assert lines[0].startswith(f"meshfield {command[0]}: error: Could not read {bad}: ")
        assert "A piece is missing its Cells element" in lines[0]
        assert "0x" not in lines[0]
    assert logging.getLogger().handlers == handlers  # VTK's messages installed no handler
    assert not (tmp_path / "out.vtu").exists()
    from meshfield.errors import MeshFormatError

    with pytest.raises(MeshFormatError, match="Cells element"):
        main(["--debug", "info", str(bad)])


def test_command_bodies_moved_to_cli_with_deprecated_aliases() -> None:
    import meshfield.cli.evaluate
    import meshfield.cli.train
    import meshfield.evaluate
    import meshfield.evaluate.report
    import meshfield.train.loop

    for module, name, new in (
        (meshfield.train.loop, "run_train", meshfield.cli.train.run),
        (meshfield.evaluate.report, "run_evaluate", meshfield.cli.evaluate.run),
        (meshfield.evaluate, "run_evaluate", meshfield.cli.evaluate.run),
    ):
        with pytest.warns(DeprecationWarning, match="moved to meshfield.cli"):
            assert getattr(module, name) is new
