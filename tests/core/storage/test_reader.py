"""``ObjectStore.open``: a seekable file object over an object, on both drivers."""

from __future__ import annotations

import io
import os

import pytest

from imagehub.core.storage import ObjectNotFound, ObjectStore
from imagehub.core.storage.reader import READ_AHEAD


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
