"""``ObjectStore.open``: a seekable file object over an object, on both drivers."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest

from imagehub.core.storage import ObjectNotFound, ObjectStore
from imagehub.core.storage.reader import READ_AHEAD, ranged_reader


def test_seek_and_read_match_the_stored_bytes(store: ObjectStore) -> None:
    data = os.urandom(3 * READ_AHEAD + 17)
    store.put("big", data)
    with store.open("big", len(data)) as handle:
        assert handle.read(132) == data[:132]
        handle.seek(-10, io.SEEK_END)
        assert handle.read() == data[-10:]
        assert handle.read(5) == b""
        handle.seek(READ_AHEAD - 3)
        assert handle.read(READ_AHEAD) == data[READ_AHEAD - 3 : 2 * READ_AHEAD - 3]
        assert handle.seekable()
        assert handle.tell() == 2 * READ_AHEAD - 3


def test_a_missing_object_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound), store.open("absent", 10) as handle:
        handle.read(1)


class _Counting:
    """The store, counting the requests made for an object's bytes."""

    def __init__(self, store: ObjectStore) -> None:
        self.store, self.gets = store, 0

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        self.gets += 1
        return self.store.get(key, start, end)


def test_reading_a_whole_object_takes_one_request(store: ObjectStore) -> None:
    data = os.urandom(4 * 1024 * 1024 + 5)
    store.put("big", data)
    counting = _Counting(store)
    reader = ranged_reader(counting, "big", len(data))  # type: ignore[arg-type]
    assert reader.read() == data
    assert counting.gets == 1
    reader.seek(100)
    assert reader.read() == data[100:]
    assert counting.gets == 2
