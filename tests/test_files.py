"""meshfield._files: atomic files and folders, all or nothing, no temporary left behind, usual
permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshfield._files import (
    atomic_files,
    atomic_folder,
    atomic_path,
    sha256,
    write_atomic,
)


def test_writes_and_replaces_without_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    assert write_atomic(target, '{"a": 1}\n') == target
    assert target.read_text() == '{"a": 1}\n'
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "log.jsonl"
    target.write_text("old\n")

    def no_rename(src: object, dst: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="disk went away"):
        write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl"]


def _usual(mode_for_dir: bool = False) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if mode_for_dir else 0o666) & ~mask


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_write_atomic_never_leaves_a_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the disk fails while the new content is flushed, half of it written: the old file stays
    # whole (and is what a reader sees meanwhile), and no temporary is left
    target = tmp_path / "big.bin"
    target.write_bytes(b"old" * 1000)
    seen = []

    def half_then_fail(fd: int) -> None:
        seen.append(target.read_bytes())
        os.ftruncate(fd, os.fstat(fd).st_size // 2)
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new" * 100_000)
    monkeypatch.undo()
    assert seen == [b"old" * 1000]
    assert target.read_bytes() == b"old" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]


def test_atomic_path_replaces_the_target_with_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "weights.safetensors"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".safetensors" and tmp != target
        assert tmp.is_file() and tmp.read_bytes() == b""
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # not before the end of the block
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == _usual()
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]
    with atomic_path(tmp_path / "grid.vtu", suffix=".vtk") as tmp:
        assert tmp.name.endswith(".vtk")
        tmp.write_text("x")
    with atomic_path(tmp_path / "plain") as tmp:
        assert tmp.suffix == ".tmp"
        tmp.write_text("y")
    assert (tmp_path / "grid.vtu").read_text() == "x" and (tmp_path / "plain").read_text() == "y"


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_failing_writer_in_atomic_path_keeps_the_old_file(
    tmp_path: Path, error: type[BaseException]
) -> None:
    target = tmp_path / "mesh.vtu"
    target.write_bytes(b"\x00old\xff")
    with pytest.raises(error), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a fi")
        raise error
    assert target.read_bytes() == b"\x00old\xff"
    assert [p.name for p in tmp_path.iterdir()] == ["mesh.vtu"]
    # no target before: still none after
    with pytest.raises(error), atomic_path(tmp_path / "new.vtu") as tmp:
        raise error
    assert [p.name for p in tmp_path.iterdir()] == ["mesh.vtu"]


def test_atomic_files_replace_each_target_under_its_own_name(tmp_path: Path) -> None:
    h5, xdmf = tmp_path / "m.h5", tmp_path / "m.xdmf"
    with atomic_files(h5, xdmf) as (tmp_h5, tmp_xdmf):
        assert (tmp_h5.name, tmp_xdmf.name) == ("m.h5", "m.xdmf")
        assert tmp_h5.parent == tmp_xdmf.parent and tmp_h5.parent.parent == tmp_path
        tmp_h5.write_bytes(b"h5")
        tmp_xdmf.write_text("<Xdmf/>")
    assert h5.read_bytes() == b"h5" and xdmf.read_text() == "<Xdmf/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5", "m.xdmf"]
    assert h5.stat().st_mode & 0o777 == _usual() == xdmf.stat().st_mode & 0o777
    with pytest.raises(RuntimeError), atomic_files(h5, xdmf) as (tmp_h5, _):
        tmp_h5.write_bytes(b"other")
        raise RuntimeError
    assert h5.read_bytes() == b"h5" and xdmf.read_text() == "<Xdmf/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5", "m.xdmf"]
    with pytest.raises(ValueError, match="one folder"):
        atomic_files(h5, tmp_path / "sub" / "m.xdmf").__enter__()


def _old_checkpoint(tmp_path: Path) -> Path:
    target = tmp_path / "run"
    (target / "sub").mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"\x01\x02old weights")
    (target / "config.json").write_text('{"old": true}\n')
    (target / "sub" / "x.txt").write_text("old")
    return target


def test_atomic_folder_swaps_in_the_new_folder(tmp_path: Path) -> None:
    target = _old_checkpoint(tmp_path)
    with atomic_folder(target) as staging:
        assert staging.is_dir() and not any(staging.iterdir())
        assert staging.parent == tmp_path and staging != target
        (staging / "model.safetensors").write_bytes(b"new weights")
        (staging / "deep").mkdir()
        (staging / "deep" / "config.json").write_text("{}")
        assert _tree(target)["config.json"] == b'{"old": true}\n'  # not before the end
    assert _tree(target) == {"model.safetensors": b"new weights", "deep/config.json": b"{}"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    for entry in [target, *target.rglob("*")]:
        assert entry.stat().st_mode & 0o777 == _usual(entry.is_dir()), entry
    # a new folder where there was none
    with atomic_folder(tmp_path / "fresh") as staging:
        (staging / "a").write_text("a")
    assert _tree(tmp_path / "fresh") == {"a": b"a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "run"]


@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_a_failing_writer_in_atomic_folder_keeps_the_old_folder(
    tmp_path: Path, error: type[BaseException]
) -> None:
    target = _old_checkpoint(tmp_path)
    before = _tree(target)
    with pytest.raises(error), atomic_folder(target) as staging:
        (staging / "model.safetensors").write_bytes(b"half")
        raise error
    assert _tree(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_failed_swap_puts_the_old_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _old_checkpoint(tmp_path)
    before = _tree(target)
    real_rename = os.rename

    def no_staging_rename(src: object, dst: object) -> None:
        if Path(dst) == target and Path(src).name.endswith(".tmp"):  # the staging one
            raise OSError("disk went away")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", no_staging_rename)
    with pytest.raises(OSError, match="disk went away"), atomic_folder(target) as staging:
        (staging / "model.safetensors").write_bytes(b"new")
    monkeypatch.undo()
    assert _tree(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_folder_with_fixed_staging_and_backup_names(tmp_path: Path) -> None:
    # what a killed earlier save left: a stale staging folder, and the previous folder in
    # the backup place (killed between its two renames, so no target)
    staging_path, old = tmp_path / ".last.staging", tmp_path / ".last.old"
    (staging_path / "junk").mkdir(parents=True)
    old.mkdir()
    (old / "state.json").write_text("previous")
    target = tmp_path / "last"
    with atomic_folder(target, staging=staging_path, old=old) as staging:
        assert staging == staging_path and not any(staging.iterdir())
        assert (old / "state.json").read_text() == "previous"  # kept until the new one is in
        (staging / "state.json").write_text("1")
    assert _tree(target) == {"state.json": b"1"}
    assert [p.name for p in tmp_path.iterdir()] == ["last"]
    # the normal case: the old folder goes through the backup name and is then removed
    with atomic_folder(target, staging=staging_path, old=old) as staging:
        (staging / "state.json").write_text("2")
    assert _tree(target) == {"state.json": b"2"}
    assert [p.name for p in tmp_path.iterdir()] == ["last"]
    with pytest.raises(RuntimeError), atomic_folder(target, staging=staging_path, old=old):
        raise RuntimeError
    assert _tree(target) == {"state.json": b"2"}
    assert [p.name for p in tmp_path.iterdir()] == ["last"]


def test_sha256_of_a_file(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "w.bin"
    data = os.urandom(3 << 20)  # more than one block
    path.write_bytes(data)
    assert sha256(path) == hashlib.sha256(data).hexdigest()
