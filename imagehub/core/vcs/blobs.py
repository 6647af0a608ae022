"""Content-addressed blobs in object storage, under ``blobs/<aa>/<bb>/<sha256>``.

A blob is written once: putting bytes that are already stored costs one hash and
one ``exists`` check, except that bytes uploaded under their id replace the stored object
(the repair of a damaged blob). Incoming streams are spooled to a bounded temporary file while
hashing, because the address is only known at the end. Bulk loads write through a
``batch``, which makes all its blobs durable at once before any commit can name them.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, Protocol

from imagehub.core.errors import ImageHubError
from imagehub.core.storage import ObjectStore
from imagehub.core.storage.base import ObjectNotFound, PutBatch, Source, iter_source
from imagehub.core.vcs.types import BlobId, validate_blob_id

SPOOL_IN_MEMORY = 8 * 1024 * 1024


class BlobMismatch(ImageHubError):
    """Bytes did not hash to the id they were sent under."""


class BlobIndex(Protocol):
    """The database's record of stored blobs: fast existence checks and GC bookkeeping."""

    def register(self, blobs: Iterable[tuple[BlobId, int]]) -> None:
        """Record blobs as present (and freshly referenced)."""

    def touch(self, blobs: Iterable[BlobId]) -> dict[BlobId, int]:
        """Mark blobs as freshly referenced; return the size of each one recorded."""


def blob_key(blob: BlobId) -> str:
    return f"blobs/{blob[:2]}/{blob[2:4]}/{blob}"


class BlobStore:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def exists(self, blob: BlobId) -> bool:
        return self.store.exists(blob_key(blob))

    def stored_size(self, blob: BlobId) -> int | None:
        """The size of the blob's stored object, or None when there is none."""
        try:
            return self.store.stat(blob_key(blob)).size
        except ObjectNotFound:
            return None

    def keep(self, blob: BlobId, size: int) -> bool:
        """Whether the blob's bytes are stored whole, refreshed if so: a writer that finds
        them and skips writing them must not have them swept a moment later as old garbage.
        An object of another size is damaged (cut short, say): the writer replaces it."""
        kept = self.store.refresh(blob_key(blob))
        return kept is not None and kept.size == size

    def put_stream(
        self, source: bytes | BinaryIO | Iterable[bytes], expected: str | None = None
    ) -> tuple[BlobId, int]:
        """Store a stream; with ``expected`` the bytes must hash to it or nothing is kept."""
        return self._put(source, expected, self.store.put)

    @contextmanager
    def batch(self) -> Iterator[BlobBatch]:
        """Blobs stored through the batch are durable, and visible, once the block exits."""
        with self.store.batch() as writes:
            yield BlobBatch(self, writes)

    def _put(
        self,
        source: bytes | BinaryIO | Iterable[bytes],
        expected: str | None,
        write: Callable[[str, Source], object],
    ) -> tuple[BlobId, int]:
        if isinstance(source, bytes):  # already in memory: hashed and written as it is
            blob = _checked(hashlib.sha256(source), expected)
            if not self._kept(blob, len(source), expected):
                write(blob_key(blob), source)
            return blob, len(source)
        digest = hashlib.sha256()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            for chunk in iter_source(source):
                digest.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            blob = _checked(digest, expected)
            if not self._kept(blob, size, expected):
                spool.seek(0)
                write(blob_key(blob), spool)
        return blob, size

    def _kept(self, blob: BlobId, size: int, expected: str | None) -> bool:
        """Whether the stored object may stand in for bytes just received. Bytes sent under
        their id (an upload, proven by the hash) always replace it: the stored object may be
        damaged in a way its size does not show (a flipped bit), and such an upload is how a
        damaged blob is repaired. Clients send only blobs the server asks for, so this
        rewrites little; other writers keep an object of the right size."""
        return expected is None and self.keep(blob, size)

    def open(self, blob: BlobId, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        return self.store.get(blob_key(blob), start, end)

    def verify(self, blob: BlobId) -> bool:
        """Whether the stored bytes still hash to the blob's id (reads the whole blob)."""
        digest = hashlib.sha256()
        for chunk in self.open(blob):
            digest.update(chunk)
        return digest.hexdigest() == blob


def _checked(digest: hashlib._Hash, expected: str | None) -> BlobId:
    blob = BlobId(digest.hexdigest())
    if expected is not None and validate_blob_id(expected) != blob:
        raise BlobMismatch(f"content hashes to {blob}, not {expected}")
    return blob


class BlobBatch:
    """``put_stream`` for bulk loads: each distinct blob is written once per batch."""

    def __init__(self, blobs: BlobStore, writes: PutBatch) -> None:
        self._blobs = blobs
        self._writes = writes
        self._written: set[str] = set()
        self._lock = threading.Lock()

    def put_stream(
        self, source: bytes | BinaryIO | Iterable[bytes], expected: str | None = None
    ) -> tuple[BlobId, int]:
        return self._blobs._put(source, expected, self._write)

    def _write(self, key: str, source: Source) -> None:
        with self._lock:
            if key in self._written:
                return
            self._written.add(key)
        self._writes.put(key, source)
