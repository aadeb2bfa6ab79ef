"""Repository conventions that, when broken, fail confusingly elsewhere."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent


def test_test_module_names_are_unique() -> None:
    # tests/ has no __init__.py files: pytest imports every test module by its basename, so two
    # files with one name make the whole collection fail
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py")
    clashes = sorted(name for name, count in names.items() if count > 1)
    assert not clashes, f"test modules sharing a basename: {clashes}"


def test_readme_starts_with_the_two_setup_commands() -> None:
    lines = (TESTS.parent / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("```bash")
    commands = lines[start + 1 : lines.index("```", start + 1)]
    assert len(commands) == 2, commands
    assert commands[0].startswith("pip install . && meshfield "), commands[0]
    assert commands[1] == 'pip install ".[test]" && python -m pytest', commands[1]
