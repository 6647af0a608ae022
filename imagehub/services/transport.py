"""Resumable uploads and download plans.

An upload session accepts chunks strictly in order: each chunk names the offset it
starts at, and a chunk for any other offset is refused with the offset the server has,
so a client that lost an acknowledgement simply resumes from there. Chunks are kept as
objects under ``uploads/<session>/``; completion streams them through SHA-256, puts several
together in one object, and moves that object (or a lone part, or a direct upload) to the
blob's content address, so a blob is visible only whole and verified, its bytes written once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import deque
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.storage import ObjectNotFound, StorageError
from imagehub.core.vcs import BlobId, BlobMismatch, BlobStore, Entry, Repository, blob_key
from imagehub.core.vcs.types import validate_blob_id
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset
from imagehub.models.transport import UploadSession
from imagehub.models.vcs import SqlBlobIndex
from imagehub.services.platform import Platform

MAX_CHUNK = 64 * 1024 * 1024
DIRECT_URL_SECONDS = 3600
STALE_AFTER = timedelta(days=2)


class OffsetMismatch(Conflict):
    def __init__(self, expected: int) -> None:
        super().__init__(f"this upload continues at byte {expected}")
        self.expected = expected

    def details(self) -> dict[str, object]:
        return {"offset": self.expected}


def _part_key(session_id: str, index: int) -> str:
    return f"uploads/{session_id}/{index:08d}"


def start_upload(session: Session, *, dataset: Dataset, blob: str, size: int, actor: str) -> UploadSession:
    """An upload session for the blob: the one this person already opened for it, so that an
    upload cut short (a killed command, a dropped connection) resumes from its acknowledged
    offset whichever client starts it again, else a new one. Two clients starting it at once
    get the same one (the row is unique per person, dataset and blob)."""
    validate_blob_id(blob)
    if size < 0:
        raise InvalidInput("size must not be negative")
    same = (
        UploadSession.dataset_id == dataset.id,
        UploadSession.blob == blob,
        UploadSession.size == size,
        UploadSession.created_by == actor,
    )
    earlier = session.scalars(select(UploadSession).where(*same)).first()
    if earlier is not None and earlier.completed_at is None:
        return earlier
    upload = UploadSession(id=uuid.uuid4().hex, dataset_id=dataset.id, blob=blob, size=size, created_by=actor)
    try:
        with session.begin_nested():
            if earlier is not None:  # completed before, and the blob is wanted again (collected, damaged)
                session.execute(delete(UploadSession).where(UploadSession.id == earlier.id))
            session.add(upload)
    except IntegrityError:  # another request opened it meanwhile: theirs is the session
        return session.scalars(select(UploadSession).where(*same)).one()
    return upload


def direct_upload_url(platform: Platform, upload: UploadSession) -> str | None:
    """Where the client may PUT the whole content straight into object storage (S3), if anywhere."""
    return platform.store.presign_upload(_direct_key(upload.id), expires_in=DIRECT_URL_SECONDS)


def direct_size(platform: Platform, upload: UploadSession) -> int | None:
    """How many bytes object storage holds of the session's direct upload (None: none). A
    client whose send ended whole but whose completion failed (a dropped connection, a
    killed command) completes it without sending the file again."""
    try:
        return platform.store.stat(_direct_key(upload.id)).size
    except ObjectNotFound:
        return None


def _direct_key(session_id: str) -> str:
    return f"uploads/{session_id}/direct"


def _assembled_key(session_id: str) -> str:
    return f"uploads/{session_id}/assembled"


def get_upload(session: Session, *, dataset: Dataset, upload_id: str, lock: bool = False) -> UploadSession:
    """The dataset's upload session; with ``lock``, held until the transaction ends (one writer)."""
    upload = session.get(UploadSession, upload_id, with_for_update=lock, populate_existing=lock)
    if upload is None or upload.dataset_id != dataset.id:
        raise NotFound(f"no upload session {upload_id}")
    return upload


def append_chunk(
    session: Session, platform: Platform, *, dataset: Dataset, upload_id: str, offset: int, chunk: bytes
) -> UploadSession:
    upload = get_upload(session, dataset=dataset, upload_id=upload_id, lock=True)
    if upload.completed_at is not None:
        raise Conflict(f"upload {upload_id} is already complete")
    if offset != upload.received:
        raise OffsetMismatch(upload.received)
    if len(chunk) > MAX_CHUNK:
        raise InvalidInput(f"chunks are at most {MAX_CHUNK} bytes")
    if upload.received + len(chunk) > upload.size:
        raise InvalidInput(f"the upload would exceed its declared size of {upload.size} bytes")
    platform.store.put(_part_key(upload.id, upload.parts), chunk)
    upload.parts += 1
    upload.received += len(chunk)
    upload.touched_at = utcnow()
    return upload


def complete_upload(session: Session, platform: Platform, *, dataset: Dataset, upload_id: str) -> BlobId:
    """Verify the whole upload against its blob id and make the blob visible. Completions of
    one session take turns; one that finds it completed (two clients completed at once, or an
    answer was lost) succeeds as the first did, while the blob stays stored whole."""
    upload = get_upload(session, dataset=dataset, upload_id=upload_id, lock=True)
    if upload.completed_at is not None:
        return _completed_blob(session, platform, upload)
    direct = _direct_key(upload.id)
    sent_direct = upload.received == 0 and platform.store.exists(direct)
    if sent_direct and platform.store.stat(direct).size != upload.size:
        platform.store.delete(direct)
        raise InvalidInput(f"the object stored directly is not {upload.size} bytes long")
    if upload.received != upload.size and not sent_direct:
        raise OffsetMismatch(upload.received)
    blob = BlobId(upload.blob)
    try:
        _place(
            platform,
            upload,
            [direct] if sent_direct else [_part_key(upload.id, i) for i in range(upload.parts)],
        )
        SqlBlobIndex(session).register([(blob, upload.size)])
    except StorageError:
        platform.store.delete(_assembled_key(upload.id))
        raise  # the storage failed, not the upload: its parts stay for the client to complete again
    except BaseException:
        # The upload is refused (or abandoned): its parts go, and the session with them, for
        # good. The caller's transaction rolls back with the error: it is rolled back now, so
        # that its lock on the row ends, and the row is removed in a transaction of its own.
        _discard(platform, upload)
        session.rollback()
        with platform.sessions.begin() as own:
            own.execute(delete(UploadSession).where(UploadSession.id == upload_id))
        raise
    _discard(platform, upload)
    upload.completed_at = upload.touched_at = utcnow()  # kept, to answer a repeated completion
    return blob


def _place(platform: Platform, upload: UploadSession, sources: list[str]) -> None:
    """Hash the upload's bytes and, if they match, make them the blob's object. The bytes are
    written at most once: a lone part or direct upload is moved as it lies (a rename on local
    disk, a copy inside S3), several parts are put together in one object that is moved."""
    blob, key, digest = BlobId(upload.blob), blob_key(BlobId(upload.blob)), hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        for source in sources:
            for piece in platform.store.get(source):
                digest.update(piece)
                yield piece

    kept = platform.store.refresh(key)
    placing = kept is None or kept.size != upload.size  # new, or stored damaged (cut short)
    whole = sources[0] if len(sources) == 1 else _assembled_key(upload.id)
    if placing and whole == _assembled_key(upload.id):
        platform.store.put(whole, hashed())
    else:  # read for the hash alone; stored before, the bytes are proof the sender holds them
        deque(hashed(), maxlen=0)
    if digest.hexdigest() != blob:
        raise BlobMismatch(f"the uploaded bytes hash to {digest.hexdigest()}, not {blob}")
    if placing:
        platform.store.move(whole, key)


def _completed_blob(session: Session, platform: Platform, upload: UploadSession) -> BlobId:
    """The blob of a session completed before, when it is still recorded and stored whole."""
    blob = BlobId(upload.blob)
    if SqlBlobIndex(session).missing([blob]) or BlobStore(platform.store).stored_size(blob) != upload.size:
        raise Conflict(f"upload {upload.id} was completed, but its blob is no longer stored: upload it again")
    return blob


def _discard(platform: Platform, upload: UploadSession) -> None:
    for index in range(upload.parts):
        platform.store.delete(_part_key(upload.id, index))
    platform.store.delete(_direct_key(upload.id))
    platform.store.delete(_assembled_key(upload.id))


def expire_uploads(session: Session, platform: Platform) -> int:
    """Forget sessions that received nothing for days, with their parts; and remove, days
    old, what no session owns: a direct upload sent again after its session completed (its
    URL stays valid for an hour), or parts a crash left behind."""
    cutoff = utcnow() - STALE_AFTER
    last_active = func.coalesce(UploadSession.touched_at, UploadSession.created_at)
    stale = list(session.scalars(select(UploadSession).where(last_active < cutoff)))
    for upload in stale:
        _discard(platform, upload)
        session.delete(upload)
    live = set(session.scalars(select(UploadSession.id))) - {upload.id for upload in stale}
    for info in platform.store.list("uploads/"):
        owner = info.key.split("/")[1]
        if owner not in live and info.modified is not None and info.modified < cutoff:
            platform.store.delete(info.key)
    return len(stale)


def download_plan(
    repo: Repository, *, ref: str, prefix: str = "", after: str = "", limit: int = 10_000
) -> tuple[str, list[Entry]]:
    """One page of what a client fetches for a version, pinned to the resolved commit.

    Later pages should name the returned commit id as ``ref`` so that a branch moving
    mid-download cannot mix two versions.
    """
    commit = repo.resolve(ref)
    return commit.id, repo.list_objects(commit.id, prefix=prefix, after=after, limit=limit)
