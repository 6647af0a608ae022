"""open_object: a seekable file over ranged reads, on both drivers."""

from __future__ import annotations

import io
import os

from imagehub.core.storage import ObjectStore, open_object
from imagehub.core.storage.reader import READ_AHEAD


def test_seek_and_read_match_the_stored_bytes(store: ObjectStore) -> None:
    data = os.urandom(3 * READ_AHEAD + 17)
    store.put("big", data)
    with open_object(store, "big", len(data)) as handle:
        assert handle.read(132) == data[:132]
        handle.seek(-10, io.SEEK_END)
        assert handle.read() == data[-10:]
        assert handle.read(5) == b""
        handle.seek(READ_AHEAD - 3)
        assert handle.read(READ_AHEAD) == data[READ_AHEAD - 3 : 2 * READ_AHEAD - 3]
        assert handle.seekable()
        assert handle.tell() == 2 * READ_AHEAD - 3
