"""The object-store interface every driver implements.

Keys are ``/``-separated relative paths. Reads and writes stream in bounded chunks so
that multi-GB objects never sit in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from imagehub.core.errors import ImageHubError, NotFound
from imagehub.core.paths import validate_relative_path

CHUNK_SIZE = 1024 * 1024


class StorageError(ImageHubError):
    """The store could not complete an operation."""


class ObjectNotFound(NotFound, StorageError):
    """No object has that key."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime | None = None


Source = BinaryIO | Iterable[bytes] | bytes


def validate_key(key: str) -> str:
    """Refuse keys that could escape the store's root or alias another key."""
    return validate_relative_path(key, "object key")


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string that may end in ``/``."""
    if prefix:
        validate_key(prefix.rstrip("/") or "x")
    return prefix


def iter_source(source: Source, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield a put's body as chunks, whatever shape the caller handed over."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]
        return
    read = getattr(source, "read", None)
    if read is not None:
        while chunk := read(chunk_size):
            yield chunk
        return
    for chunk in source:
        if chunk:
            yield chunk


class PutBatch(Protocol):
    """Writes that become visible together, durably, when their batch closes."""

    def put(self, key: str, source: Source) -> None:
        """Write ``source`` under ``key``, visible no later than the end of the batch."""


@runtime_checkable
class ObjectStore(Protocol):
    """Narrow storage contract: the drivers' only common ground."""

    url: str

    def put(self, key: str, source: Source) -> ObjectInfo:
        """Store ``source`` under ``key`` atomically: readers see all of it or none."""

    def batch(self) -> AbstractContextManager[PutBatch]:
        """Many puts made durable at once when the block exits (bulk loads): a driver may
        skip a sync per object, never the guarantee that every object is whole and durable
        once the block has returned. Callers name the objects (in a commit) only after that;
        if the block raises, objects already put may or may not remain, as unreferenced data."""

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``[start, end)`` of an object (the whole object by default)."""

    def open(self, key: str, size: int) -> BinaryIO:
        """A read-only, seekable file object over an object of known ``size``, for parsers
        that read a header and seek; raises ObjectNotFound (at once or on first read)."""

    def stat(self, key: str) -> ObjectInfo:
        """Size and time of an object; raises ObjectNotFound."""

    def exists(self, key: str) -> bool:
        """Whether an object has that key."""

    def sizes(self, keys: Iterable[str]) -> dict[str, int] | None:
        """The size of each of ``keys`` that has an object, where the store answers that for
        many keys cheaply (local disk: a stat each); None where each key would cost a request
        (S3), and callers trust their own records."""

    def refresh(self, key: str) -> ObjectInfo | None:
        """Mark an existing object as written just now, for a writer that finds its content
        already stored and skips writing it: garbage collection re-reads an object's time
        before deleting it, and leaves a fresh one. Its info, or None when there is none."""

    def move(self, source: str, key: str) -> ObjectInfo:
        """Put the object at ``source`` under ``key`` (replacing what is there) and remove
        ``source``, its bytes never passing through this process: a rename on local disk, a
        copy inside the store on S3. Raises ObjectNotFound when ``source`` is missing."""

    def delete(self, key: str) -> None:
        """Remove an object; deleting a missing key is not an error."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order."""

    def presign(self, key: str, expires_in: int = 3600) -> str:
        """A URL from which a client can fetch the object without our credentials."""

    def presign_upload(self, key: str, expires_in: int = 3600) -> str | None:
        """A URL a remote client can PUT the object's bytes to directly, or None when the
        store cannot take uploads that bypass the server (local disk)."""

    def sweep_unfinished(self, under: Sequence[str] = ("",)) -> int:
        """Remove what writers that died left behind, days old (temporary files; S3 multipart
        uploads, whose parts are stored and billed but never listed), for keys starting with
        one of ``under`` (a bucket may be shared with other applications); how many."""


class ImmediateBatch:
    """A batch for stores whose every put is already durable on return (object storage)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def put(self, key: str, source: Source) -> None:
        self._store.put(key, source)
