"""One graph per safetensors file: exact round trips, atomic writes, damaged files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from meshfield.data import MeshGraph, mesh_graph
from meshfield.data.store import load_graph, read_metadata, save_graph
from meshfield.errors import MeshFileNotFoundError, MeshFormatError, MeshValidationError
from meshfield.io import from_grid, to_grid


def full_graph() -> MeshGraph:
    """A mixed mesh with every reserved key: fields, times, cell data, conditions, z0."""
    pos = [[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1], [2, 0, 1]]
    cells = {"quad": [[0, 1, 2, 3]], "triangle": [[1, 4, 2]]}
    rng = np.random.default_rng(0)
    return mesh_graph(
        pos,
        cells,
        boundary=[1, 2, 2, 1, 3],
        boundary_names=["interior", "inlet", "wall", "outlet"],
        fields=rng.standard_normal((3, 5, 2)).astype(np.float32),
        field_names=["U_x", "U_y"],
        times=[0.0, 0.5, 1.0],
        cell_fields={"quad": rng.random((3, 1, 1)), "triangle": rng.random((3, 1, 1))},
        cell_field_names=["nut"],
        cond={"Re": 100.0, "aoa": -2.5},
    )


def assert_same(a: MeshGraph, b: MeshGraph) -> None:
    assert sorted(a.keys()) == sorted(b.keys())
    for key in a.keys():  # noqa: SIM118
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor):
            assert x.dtype == y.dtype, key
            assert torch.equal(x, y), key
        elif isinstance(x, dict):
            assert list(x) == list(y), key
            for entry in x:
                assert torch.equal(x[entry], y[entry]), (key, entry)
        else:
            assert type(x) is type(y), key
            assert x == y, key


def test_round_trip_is_exact(tmp_path: Path) -> None:
    graph = full_graph()
    graph.run_id = "Re=100"
    graph.extra = torch.arange(5, dtype=torch.int32)  # a user key of another dtype
    path = save_graph(graph, tmp_path / "deep" / "run.safetensors")
    assert path == tmp_path / "deep" / "run.safetensors"
    back = load_graph(path)
    assert isinstance(back, MeshGraph)
    assert_same(graph, back)
    assert back.z0 == 1.0
    assert list(back.cells) == ["quad", "triangle"]  # cell type order as written


def test_grid_round_trip_keeps_grid_shape(tmp_path: Path) -> None:
    values = torch.rand(2, 5, 4, 3, dtype=torch.float32)
    graph = from_grid(values, times=[0.0, 1.0], field_names=["u", "v", "p"])
    back = load_graph(save_graph(graph, tmp_path / "grid.safetensors"))
    assert back.grid_shape == (5, 4)
    assert torch.equal(to_grid(back), values)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_field_dtype_is_kept(tmp_path: Path, dtype: torch.dtype) -> None:
    graph = full_graph()
    graph.fields = graph.fields.to(dtype)
    assert load_graph(save_graph(graph, tmp_path / "g.safetensors")).fields.dtype == dtype


def test_metadata_is_json_and_readable_alone(tmp_path: Path) -> None:
    path = save_graph(full_graph(), tmp_path / "g.safetensors")
    meta = read_metadata(path)
    assert meta["field_names"] == ["U_x", "U_y"]
    assert meta["cond_names"] == ["Re", "aoa"]
    assert meta["boundary_names"] == ["interior", "inlet", "wall", "outlet"]


def test_write_is_atomic_and_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    save_graph(full_graph(), path)
    graph = full_graph()
    graph.fields = graph.fields * 2
    save_graph(graph, path)
    assert torch.equal(load_graph(path).fields, graph.fields)
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]  # no temporary left


def test_unstorable_attribute_is_named(tmp_path: Path) -> None:
    graph = full_graph()
    graph.solver = object()
    with pytest.raises(MeshValidationError, match="solver: cannot store a object"):
        save_graph(graph, tmp_path / "g.safetensors")
    assert not list(tmp_path.iterdir())


def test_truncated_file(tmp_path: Path) -> None:
    path = save_graph(full_graph(), tmp_path / "g.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 16])
    with pytest.raises(MeshFormatError, match=f"{path}: not a readable safetensors file"):
        load_graph(path)
    path.write_bytes(data[:6])
    with pytest.raises(MeshFormatError, match="truncated or corrupt"):
        load_graph(path)


def test_modified_tensor_bytes_fail_the_checksum(tmp_path: Path) -> None:
    path = save_graph(full_graph(), tmp_path / "g.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a byte of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(MeshFormatError, match=f"{path}: checksum mismatch"):
        load_graph(path)
    assert load_graph(path, verify=False).pos.shape == (5, 2)


def _edit_metadata(path: Path, edit) -> None:
    """Change the meshfield metadata in a safetensors header in place."""
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    meta = json.loads(header["__metadata__"]["meshfield"])
    edit(meta)
    header["__metadata__"]["meshfield"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size :])


def test_modified_header(tmp_path: Path) -> None:
    path = save_graph(full_graph(), tmp_path / "g.safetensors")
    _edit_metadata(path, lambda meta: meta.update(format="something.else"))
    with pytest.raises(MeshFormatError, match="expected meshfield metadata"):
        load_graph(path)


def test_foreign_and_missing_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(MeshFormatError, match="without meshfield metadata"):
        load_graph(foreign)
    garbage = tmp_path / "junk.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(MeshFormatError, match=str(garbage)):
        load_graph(garbage)
    with pytest.raises(MeshFileNotFoundError, match="no such graph file"):
        load_graph(tmp_path / "missing.safetensors")


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    path = save_graph(full_graph(), tmp_path / "g.safetensors")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickling")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert_same(full_graph(), load_graph(path))


def test_load_mesh_reads_graph_files(tmp_path: Path) -> None:
    """Dataset runs open like any mesh file (meshfield convert run.safetensors run.pvd)."""
    import meshfield

    graph = full_graph()
    path = save_graph(graph, tmp_path / "run.safetensors")
    assert_same(meshfield.load_mesh(path), graph)
    other = meshfield.load_mesh(str(path), cond={"Re": 150.0, "Ma": 0.1})
    assert other.cond_names == ["Re", "aoa", "Ma"]
    assert other.cond.tolist() == pytest.approx([150.0, -2.5, 0.1])
    with pytest.raises(MeshFormatError, match=r"graph file.*\['fields'\]"):
        meshfield.load_mesh(path, fields=["U_x"])
    with pytest.raises(MeshFileNotFoundError, match="gone.safetensors"):
        meshfield.load_mesh(tmp_path / "gone.safetensors")
    out = tmp_path / "run.pvd"
    meshfield.save(meshfield.load_mesh(path), out)
    back = meshfield.load_mesh(out)
    torch.testing.assert_close(back.fields, graph.fields)


def test_modified_metadata_fails_the_checksum(tmp_path: Path) -> None:
    # names live in the metadata: the checksum covers them too
    path = save_graph(full_graph(), tmp_path / "g.safetensors")
    _edit_metadata(path, lambda meta: meta["attrs"].update(field_names=12345))
    with pytest.raises(MeshFormatError, match="checksum mismatch"):
        load_graph(path)
