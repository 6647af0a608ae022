"""Local-driver specifics: a failed write never leaves a torn or partial object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
