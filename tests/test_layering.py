"""The package's layers: imports (lazy ones included) point down the order of DESIGN.md.

Every ``import meshfield.X`` and ``from meshfield.X import ...`` in ``meshfield/`` is read from
the source (function bodies included). An import of a higher layer fails the test, except the
ones listed in ``KNOWN_UPWARD``, which are still to be removed; that list must stay exact, so a
removed edge is struck from it too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "meshfield"

#: layer of every top-level module or package of meshfield, bottom (0) up
LAYERS: dict[str, int] = {
    **dict.fromkeys(("errors", "_chunks", "_config", "_files", "_gmsh", "_progress", "_moved", "typing", "runtime", "assets", "__version__"), 0),
    "data": 1,
    "io": 2,
    "serialize": 3,
    "nn": 4,
    "models": 5,
    **dict.fromkeys(("checkpoint", "pretrained"), 6),
    "physics": 7,
    "metrics": 8,
    "cases": 9,
    "train": 10,
    "refine": 11,
    "evaluate": 12,
    **dict.fromkeys(("viz", "result"), 13),
    **dict.fromkeys(("api", "cli", "workflow", "bench", "testing"), 14),
    **dict.fromkeys(("__init__", "__main__"), 15),
}

#: (importing file, imported module) edges that point up today
KNOWN_UPWARD: set[tuple[str, str]] = set()

#: deprecated aliases of names that moved up: each warns when used (tested below)
DEPRECATED_ALIASES = {
    ("physics/__init__.py", "meshfield.refine"),
    ("train/__init__.py", "meshfield.evaluate"),
    ("refine/finetune.py", "meshfield.cli.finetune"),
    ("cases/datagen.py", "meshfield.cli.datagen"),
    ("train/loop.py", "meshfield.cli.train"),
    ("evaluate/report.py", "meshfield.cli.evaluate"),
    ("evaluate/__init__.py", "meshfield.cli.evaluate"),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "meshfield":
                found.update(f"meshfield.{alias.name}" for alias in node.names)
            elif node.module.startswith("meshfield."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("meshfield."))
    return found


def _layer(part: str) -> int:
    name = part.removesuffix(".py")
    assert name in LAYERS, f"meshfield/{part}: give it a layer in tests/test_layering.py"
    return LAYERS[name]


def upward_imports() -> set[tuple[str, str]]:
    edges = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        source = _layer(rel.parts[0])
        for module in _imports(path):
            target = _layer(module.split(".")[1])
            if target > source:
                edges.add((rel.as_posix(), module))
    return edges


def test_imports_point_down_the_layers() -> None:
    edges = upward_imports() - DEPRECATED_ALIASES
    new = sorted(edges - KNOWN_UPWARD)
    assert not new, f"imports of a higher layer: {new}"
    gone = sorted(KNOWN_UPWARD - edges)
    assert not gone, f"removed, strike them from KNOWN_UPWARD: {gone}"


def test_the_walk_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import meshfield.nn.ssm\n"
        "def f():\n"
        "    from meshfield.train import Trainer\n"
        "    from meshfield import api, errors\n"
        "    from . import sibling\n"
    )
    assert _imports(source) == {
        "meshfield.nn.ssm",
        "meshfield.train",
        "meshfield.api",
        "meshfield.errors",
    }


def test_moved_names_warn_and_still_work() -> None:
    import warnings

    import meshfield.physics
    import meshfield.refine

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = meshfield.physics.PhysicsRefiner
    assert old is meshfield.refine.PhysicsRefiner
    assert [w.category for w in caught] == [DeprecationWarning]
    assert "moved to meshfield.refine.PhysicsRefiner" in str(caught[0].message)
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        meshfield.physics.nothing  # noqa: B018
    import meshfield.evaluate
    import meshfield.train

    with pytest.warns(DeprecationWarning, match="moved to meshfield.evaluate.evaluate"):
        assert meshfield.train.evaluate is meshfield.evaluate.evaluate
    import importlib

    import meshfield.cli.finetune

    old_module = importlib.import_module("meshfield.refine.finetune")  # the package's
    # attribute of that name is the function
    with pytest.warns(DeprecationWarning, match="moved to meshfield.cli.finetune.run_finetune"):
        assert old_module.run_finetune is meshfield.cli.finetune.run_finetune
