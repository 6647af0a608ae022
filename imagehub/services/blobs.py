"""Blob uploads: bytes into the content-addressed store, then into the index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import BinaryIO

from sqlalchemy.orm import Session

from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import BlobId, BlobStore
from imagehub.core.vcs.types import validate_blob_id
from imagehub.models.vcs import SqlBlobIndex
from imagehub.services.platform import Platform


def upload(
    session: Session,
    platform: Platform,
    source: bytes | BinaryIO | Iterable[bytes],
    *,
    expected: str | None = None,
) -> tuple[BlobId, int]:
    """Store a blob (once, whatever the number of uploads) and record it."""
    blob, size = BlobStore(platform.store).put_stream(source, expected)
    SqlBlobIndex(session).register([(blob, size)])
    return blob, size


def upload_many(
    session: Session, platform: Platform, sources: Sequence[bytes | BinaryIO]
) -> list[tuple[BlobId, int]]:
    """Store several blobs and record them in one registration, which takes their rows in
    id order: uploads of the same blobs in another order wait instead of deadlocking."""
    store = BlobStore(platform.store)
    stored = [store.put_stream(source) for source in sources]
    SqlBlobIndex(session).register(stored)
    return stored


BUNDLE_HEADER = 72  # 64 hex digits of SHA-256, then the size as 8 bytes big-endian


def upload_bundle(session: Session, platform: Platform, body: BinaryIO) -> list[tuple[BlobId, int]]:
    """Store many small blobs sent as one stream of ``[sha256 hex][size][bytes]`` records.

    Each record is verified on its own; a record whose bytes do not match its id stops the
    bundle with an error and none of the bundle is recorded.
    """
    stored: list[tuple[BlobId, int]] = []
    with BlobStore(platform.store).batch() as batch:
        while header := body.read(BUNDLE_HEADER):
            if len(header) != BUNDLE_HEADER:
                raise InvalidInput("truncated bundle record header")
            expected, size = header[:64].decode("ascii", "replace"), int.from_bytes(header[64:], "big")
            content = body.read(size)
            if len(content) != size:
                raise InvalidInput(f"bundle record {expected} is truncated")
            stored.append(batch.put_stream(content, expected))
    stored = list(dict(stored).items())  # a blob sent twice is stored, and counted, once
    SqlBlobIndex(session).register(stored)
    return stored


def missing(session: Session, blobs: Iterable[str]) -> set[BlobId]:
    """The have/want answer: which of these blobs the server lacks (ids must be SHA-256 hex)."""
    return SqlBlobIndex(session).missing(validate_blob_id(b) for b in blobs)
