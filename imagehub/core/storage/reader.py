"""A seekable, buffered file object over ranged reads of one stored object.

Header parsers read a few kilobytes, then seek; reading a whole multi-GB object to look
at its first 2 KB (or downloading it twice) is what this avoids.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from imagehub.core.storage.base import ObjectStore

READ_AHEAD = 256 * 1024


class _RangedRaw(io.RawIOBase):
    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        self._store, self._key, self._size, self._pos = store, key, size, 0

    @property
    def name(self) -> str:  # parsers put it in their messages
        return self._key

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readall(self) -> bytes:
        """The rest of the object in one request: the default reads it 8 KiB (a request) at a time."""
        if self._pos >= self._size:
            return b""
        data = b"".join(self._store.get(self._key, self._pos, self._size))
        self._pos += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        end = min(self._size, self._pos + len(buffer))
        if end <= self._pos:
            return 0
        filled = 0
        for chunk in self._store.get(self._key, self._pos, end):
            buffer[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
        self._pos += filled
        return filled


def ranged_reader(store: ObjectStore, key: str, size: int) -> BinaryIO:
    """Read-only, seekable view of ``key`` over ``store.get`` ranges; ``size`` is the object's
    known length."""
    return io.BufferedReader(_RangedRaw(store, key, size), buffer_size=READ_AHEAD)
