"""Local-driver specifics: a failed write never leaves a torn or partial object."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagehub.core.storage import local
from imagehub.core.storage.local import FileStore


def test_interrupted_put_keeps_old_object_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "objects")
    store.put("k", b"old contents")

    def failing_body() -> Iterator[bytes]:
        yield b"new partial"
        raise RuntimeError("connection dropped")

    with pytest.raises(RuntimeError):
        store.put("k", failing_body())
    assert b"".join(store.get("k")) == b"old contents"
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []
    assert [o.key for o in store.list()] == ["k"]


def test_temp_area_is_not_listed(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "objects")
    (tmp_path / "objects" / ".tmp" / "stray").write_bytes(b"x")
    store.put("real", b"y")
    assert [o.key for o in store.list()] == ["real"]


def test_batch_publishes_nothing_until_it_closes_and_nothing_when_it_fails(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "objects")
    with store.batch() as batch:
        batch.put("kept", b"payload")
        assert not store.exists("kept")  # not visible before the batch's sync
    assert b"".join(store.get("kept")) == b"payload"

    def failing_import() -> None:
        with store.batch() as batch:
            batch.put("dropped", b"never published")
            raise RuntimeError("import failed part way")

    with pytest.raises(RuntimeError):
        failing_import()
    assert not store.exists("dropped")
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []


def test_a_batch_syncs_its_data_before_naming_it_and_the_names_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "objects")
    events: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(local, "_sync_filesystem", lambda path: events.append("sync"))

    def replace(source: str | Path, target: str | Path) -> None:
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(local.os, "replace", replace)
    with store.batch() as batch:
        batch.put("a", b"1")
        batch.put("b", b"2")
        assert events == []
    assert events == ["sync", "rename", "rename", "sync"]
    events.clear()
    with store.batch():
        pass  # what it relied on may have been named by another batch: still synced
    assert events == ["sync"]
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []


def test_temporary_files_of_dead_writers_are_swept_and_recent_ones_kept(tmp_path: Path) -> None:
    FileStore(tmp_path / "objects")
    stale, fresh = tmp_path / "objects" / ".tmp" / "stale", tmp_path / "objects" / ".tmp" / "fresh"
    stale.write_bytes(b"left by a killed import")
    fresh.write_bytes(b"being written right now")
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(stale, (week_ago, week_ago))
    FileStore(tmp_path / "objects")
    assert not stale.exists()
    assert fresh.exists()


def test_a_batch_put_whose_folder_cannot_be_made_leaves_no_temp_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "objects")
    store.put("c", b"a file where a folder would go")
    with pytest.raises((FileExistsError, NotADirectoryError)), store.batch() as batch:
        batch.put("c/object", os.urandom(300_000))
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []
    assert [o.key for o in store.list()] == ["c"]


def test_a_folder_removed_behind_the_store_is_made_again(tmp_path: Path) -> None:
    """Folders are made once per process; one removed by hand is remade at publish."""
    store = FileStore(tmp_path / "objects")
    with store.batch() as batch:
        batch.put("a/b/first", b"one")
    (tmp_path / "objects" / "a" / "b" / "first").unlink()
    (tmp_path / "objects" / "a" / "b").rmdir()
    with store.batch() as batch:
        batch.put("a/b/second", os.urandom(200_000))
    assert [o.key for o in store.list()] == ["a/b/second"]
    assert len(b"".join(store.get("a/b/second"))) == 200_000
