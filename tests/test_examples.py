"""Every example script runs top to bottom in quick mode and writes what it promises.

Each script runs in its own process, as a user runs it (``python examples/NAME.py --quick
--out DIR``), with the repository root on ``PYTHONPATH`` so that an uninstalled checkout works
too.
"""

from __future__ import annotations

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

#: script -> (files it writes under --out, solvers it needs, Python modules it needs)
CASES = {
    "heat_plate": (FINETUNED, (), ("gmsh",)),
    "taylor_green_grid": (FINETUNED, (), ()),
    "custom_mesh": (("residual.png",), (), ()),
    "cylinder_wake": (FINETUNED, ("pimpleFoam", "gmshToFoam"), ("gmsh",)),
    "lid_driven_cavity": (FINETUNED, ("icoFoam", "gmshToFoam"), ("gmsh",)),
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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _requirements(name: str) -> None:
    _, solvers, modules = CASES[name]
    for module in modules:
        pytest.importorskip(module)
    missing = [s for s in solvers if shutil.which(s) is None]
    if missing:
        pytest.skip(f"{name} needs OpenFOAM ({', '.join(missing)} not on PATH)")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["heat_plate", "taylor_green_grid", "custom_mesh"])
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
