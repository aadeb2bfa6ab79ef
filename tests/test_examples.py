"""Every example script runs top to bottom in quick mode and writes what it promises.

Each script runs in its own process, as a user runs it (``python examples/NAME.py --quick
--out DIR``), with the repository root on ``PYTHONPATH`` so that an uninstalled checkout works
too.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: pictures of the cases with a before/after fine-tuning comparison
FINETUNED = ("residual_pretrained.png", "residual_finetuned.png", "errors.png")

#: script -> (files it writes under --out, solvers it needs, optional Python modules it needs).
#: Only optional extras belong in the last slot: a required dependency (gmsh, pyvista, ...) that
#: is missing is a broken install, and the example must fail on it rather than be skipped.
CASES = {
    "heat_plate": (FINETUNED, (), ()),
    "taylor_green_grid": (FINETUNED, (), ()),
    "custom_mesh": (("residual.png",), (), ()),
    "cylinder_wake": (FINETUNED, ("pimpleFoam", "gmshToFoam"), ()),
    "lid_driven_cavity": (FINETUNED, ("icoFoam", "gmshToFoam"), ()),
    "airfoil": (("residual_pretrained.png",), ("simpleFoam",), ()),
}

#: generous: CI machines are shared; a quick run takes about 2-3 minutes on a quiet 2-core CPU
TIMEOUT = 3600


def run_example(name: str, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("PYVISTA_OFF_SCREEN", "true")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out", str(out)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def check_outputs(name: str, out: Path, result: subprocess.CompletedProcess) -> None:
    files, _, _ = CASES[name]
    assert result.returncode == 0, f"{name} failed:\n{result.stderr[-4000:]}"
    assert (out / "result.pvd").is_file(), f"{name}: no result.pvd in {sorted(out.iterdir())}"
    assert list(out.glob("result/*.vtu")) or list(out.glob("*.vtu")), f"{name}: no .vtu steps"
    for file in files:
        path = out / file
        assert path.is_file() and path.stat().st_size > 1000, f"{name}: no picture {file}"
    # the results table: a header with every metric, then a row of numbers
    lines = result.stdout.splitlines()
    header = [
        i
        for i, line in enumerate(lines)
        if line.split()[:6] == ["model", "MSE", "rel-L2", "R", "R/R_ref", "MSE-R"]
    ]
    assert header, f"{name}: no results table in its output:\n{result.stdout[-2000:]}"
    row = lines[header[0] + 1].split()
    assert len(row) == 6 and all(_is_number(cell) for cell in row[1:]), row
    if "residual_finetuned.png" in files:
        check_finetuning_lowers_r(name, out, lines[header[0] + 1 : header[0] + 3])


class ResidualNotLowered(AssertionError):
    """Fine-tuning left the PDE residual R of the test rollouts as high or higher."""


def check_finetuning_lowers_r(name: str, out: Path, rows: list[str]) -> None:
    """Physics fine-tuning lowered the mean squared PDE residual R of the test rollouts.

    The example writes its scores to ``metrics.json`` (``pretrained`` and ``fine-tuned``, as
    in the table it prints); the printed table must show the same R.
    """
    scores = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    before, after = scores["pretrained"]["R"], scores["fine-tuned"]["R"]
    assert math.isfinite(before) and math.isfinite(after), (before, after)
    printed = {cells[0]: float(cells[3]) for cells in (row.split() for row in rows)}
    assert set(printed) == {"pretrained", "fine-tuned"}, rows
    assert printed["pretrained"] == pytest.approx(before, rel=1e-3), rows
    assert printed["fine-tuned"] == pytest.approx(after, rel=1e-3), rows
    if not after < before:
        raise ResidualNotLowered(
            f"{name}: fine-tuning did not lower R ({before:.4g} -> {after:.4g})"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _requirements(name: str) -> None:
    _, solvers, optional_modules = CASES[name]
    for module in optional_modules:
        pytest.importorskip(module)
    missing = [s for s in solvers if shutil.which(s) is None]
    if missing:
        pytest.skip(f"{name} needs OpenFOAM ({', '.join(missing)} not on PATH)")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "heat_plate",
        "taylor_green_grid",
        "custom_mesh",
    ],
)
def test_example(name: str, tmp_path: Path) -> None:
    _requirements(name)
    check_outputs(name, tmp_path, run_example(name, tmp_path))


@pytest.mark.slow
@pytest.mark.openfoam
@pytest.mark.parametrize("name", ["cylinder_wake", "lid_driven_cavity", "airfoil"])
def test_openfoam_example(name: str, tmp_path: Path) -> None:
    _requirements(name)
    check_outputs(name, tmp_path, run_example(name, tmp_path))


def test_examples_are_self_contained() -> None:
    # style rule 9: no path tricks and no imports between examples
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert {p.stem for p in scripts} == set(CASES)
    names = {p.stem for p in scripts}
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        assert "sys.path" not in text, path.name
        for other in names:
            assert f"import {other}" not in text and f"from {other} " not in text, path.name
        assert text.startswith('"""'), f"{path.name}: no module docstring"
        assert "--quick" in text, f"{path.name}: no --quick mode"
