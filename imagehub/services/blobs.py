"""Blob uploads: bytes into the content-addressed store, then into the index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import BinaryIO

from sqlalchemy.orm import Session

from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.vcs import BlobId, BlobStore, ChangeSet, RefKind, Repository, blob_key
from imagehub.core.vcs.repository import MissingBlobs
from imagehub.core.vcs.types import validate_blob_id
from imagehub.models import holders
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


def missing(session: Session, platform: Platform, blobs: Iterable[str], *, holder: int) -> set[BlobId]:
    """The have/want answer for user ``holder``: which of these blobs they must send, the
    ones the server lacks and the ones they never uploaded (ids must be SHA-256 hex). So the
    answer tells nobody what anyone else stored, and the bytes they send prove they hold them.
    The server lacks a blob it records but whose object is gone or of another size (cut
    short), as far as the store tells cheaply: on local disk, so that sending the file again
    repairs it; on S3 the index is trusted (``imagehub fsck`` finds such damage there)."""
    wanted = {validate_blob_id(b) for b in blobs}
    recorded = SqlBlobIndex(session).sizes(wanted)
    stored = platform.store.sizes(blob_key(b) for b in recorded)
    damaged = (
        set() if stored is None else {b for b, size in recorded.items() if stored.get(blob_key(b)) != size}
    )
    return (wanted - recorded.keys()) | damaged | (wanted - holders.held(session, holder, wanted))


def record_holder(session: Session, holder: int, stored: Iterable[tuple[BlobId, int]]) -> None:
    """``holder`` uploaded these blobs: they may name them in commits from now on."""
    holders.record(session, holder, (blob for blob, _ in stored))


def require_held(session: Session, holder: int, repo: Repository, branch: str, changes: ChangeSet) -> None:
    """Refuse a commit from a client that names blobs it never uploaded (409, as blobs the
    server lacks): a blob id seen somewhere must not open bytes of a dataset one cannot read.
    Putting back the entry a path already has needs no upload."""
    wanted = {BlobId(e.blob) for e in changes.puts.values()}
    unproven = wanted - holders.held(session, holder, wanted)
    if not unproven:
        return
    head = repo.get_ref(branch, RefKind.BRANCH).commit
    puts = changes.puts.values()
    needed = {BlobId(e.blob) for e in puts if e.blob in unproven and _blob_at(repo, head, e.path) != e.blob}
    if needed:
        raise MissingBlobs(needed)


def _blob_at(repo: Repository, commit: str, path: str) -> str | None:
    try:
        return repo.stat(commit, path).blob
    except NotFound:
        return None
