"""assert_roundtrip passes on faithful writers and names what a lossy one changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import meshfield.io
from meshfield.data import mesh_graph
from meshfield.testing import assert_roundtrip


def _graph():
    pos = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) / 3
    return mesh_graph(
        pos,
        {"triangle": np.array([[0, 1, 2], [1, 3, 2]])},
        fields=np.arange(8, dtype=np.float32).reshape(1, 4, 2),
        field_names=["U_x", "U_y"],
        times=[0.5],
    )


@pytest.mark.parametrize("suffix", [".vtu", ".vtk", ".xdmf", ".pvd"])
def test_passes(tmp_path: Path, suffix: str) -> None:
    back = assert_roundtrip(_graph(), suffix, tmp_path)
    assert back.field_names == ["U_x", "U_y"]


def test_names_a_changed_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load = meshfield.io.load_mesh

    def lossy(path, **kw):
        data = load(path, **kw)
        data.fields = data.fields + 1e-3
        return data

    monkeypatch.setattr(meshfield.io, "load_mesh", lossy)
    with pytest.raises(AssertionError, match="fields differs"):
        assert_roundtrip(_graph(), ".vtu", tmp_path)


def test_names_changed_boundary_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load = meshfield.io.load_mesh

    def renamed(path, **kw):
        data = load(path, **kw)
        data.boundary_names = ["interior", "wall"]
        return data

    monkeypatch.setattr(meshfield.io, "load_mesh", renamed)
    with pytest.raises(AssertionError, match="boundary_names differs"):
        assert_roundtrip(_graph(), ".vtu", tmp_path)


def test_suffix_needs_a_folder() -> None:
    with pytest.raises(ValueError, match="tmp_dir"):
        assert_roundtrip(_graph(), ".vtu")


def test_positions_are_compared_bitwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load = meshfield.io.load_mesh

    def nudged(path, **kw):
        data = load(path, **kw)
        data.pos = torch.nextafter(data.pos, torch.full_like(data.pos, 2.0))
        return data

    monkeypatch.setattr(meshfield.io, "load_mesh", nudged)
    with pytest.raises(AssertionError, match="pos differs"):
        assert_roundtrip(_graph(), ".vtk", tmp_path)
