"""Garbage collection and fsck over every dataset.

GC marks from every branch and tag and from every commit younger than the grace
period, then removes what is unreachable *and* untouched since the grace cutoff.
Each removal is a conditional delete, so a commit that touches a blob or node in the
meantime wins: its row survives, or its commit fails cleanly with "blob missing".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from imagehub.core.storage import ObjectInfo, ObjectNotFound, StorageError
from imagehub.core.vcs import BlobId, BlobStore, CommitId, blob_key
from imagehub.core.vcs.maintenance import FsckReport, Reachable, fsck, mark
from imagehub.models import imaging as imaging_queries
from imagehub.models import releases as release_queries
from imagehub.models import staging
from imagehub.models import vcs as vcs_queries
from imagehub.models.base import utcnow
from imagehub.models.vcs import SqlBlobIndex, SqlCommitStore, SqlDeltaStore, SqlNodeStore
from imagehub.services.platform import Platform
from imagehub.services.transport import expire_uploads

DEFAULT_GRACE = timedelta(hours=6)
# The folders ImageHub writes in its store: a bucket given without a prefix may hold other
# applications' objects too, and their unfinished uploads are not gc's to abort.
KEY_SPACES = ("blobs/", "uploads/", "derived/", "volumes/")
# What the pipeline derives, and what names each object while it is needed: a series row
# (by the object's key) or the blob it was made from (whose id leads the key's last part).
DERIVED: tuple[tuple[str, Literal["series", "blob"]], ...] = (
    ("derived/thumbnails/", "series"),
    ("derived/nifti/", "series"),
    ("derived/instance-thumbnails/", "blob"),  # <blob[:2]>/<blob>-<size>.png
    ("derived/phi-scans/", "blob"),  # <policy>/<blob[:2]>/<blob>.json
)
_BLOB_ID = re.compile(r"[0-9a-f]{64}")

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GcReport:
    reachable_commits: int
    reachable_nodes: int
    reachable_blobs: int
    deleted_commits: int
    deleted_nodes: int
    deleted_blobs: int
    freed_bytes: int
    dry_run: bool
    deleted_derived: int  # thumbnails, volumes and PHI-gate results of what was removed
    derived_bytes: int


def collect_garbage(
    platform: Platform, *, grace: timedelta = DEFAULT_GRACE, dry_run: bool = False
) -> GcReport:
    """Mark, then sweep while holding back every writer that could make something
    reachable again (a branch made from an old commit, a merge of one, a derived dataset):
    what they made during the mark is marked too before anything is deleted, and those
    that come after find a removed commit gone, cleanly."""
    cutoff = utcnow() - grace
    with platform.sessions() as session:
        roots = _roots(session, cutoff)
        reachable = mark(SqlCommitStore(session, None), SqlNodeStore(session), roots)
        reachable.blobs |= _staged_blobs(session)
    if dry_run:
        with platform.sessions() as session:
            would = vcs_queries.sweep_candidates(session, reachable, cutoff)
        orphans, orphan_bytes = _unindexed_blobs(platform, cutoff, reachable.blobs, delete=False)
        blobs, freed = would.blobs + orphans, would.blob_bytes + orphan_bytes
        derived = _derived_garbage(
            platform, cutoff, reachable.blobs, leaving=(would.commit_ids, would.blob_ids), delete=False
        )
        return _report(reachable, would.commits, would.nodes, blobs, freed, derived, dry_run=True)
    with platform.sessions.begin() as session:
        expire_uploads(session, platform)  # abandoned upload sessions and their parts
    try:  # what writers that died left in the store itself; a store that will not say is no reason to stop
        platform.store.sweep_unfinished(under=KEY_SPACES)
    except StorageError as refused:
        _log.warning("left unfinished writes in place: %s", refused)
    with platform.sessions.begin() as session:
        vcs_queries.hold_references(session)
        made_meanwhile = _roots(session, cutoff) - roots
        mark(SqlCommitStore(session, None), SqlNodeStore(session), made_meanwhile, into=reachable)
        reachable.blobs |= _staged_blobs(session)
        deleted_commits = vcs_queries.sweep_commits(session, reachable.commits, cutoff)
        deleted_nodes = vcs_queries.sweep_nodes(session, reachable.nodes, cutoff)
        doomed = vcs_queries.sweep_blobs(session, reachable.blobs, cutoff)
    freed = 0
    for blob in doomed:  # rows are gone and committed; a writer storing the same bytes now refreshes them
        freed += _delete_if_stale(platform, blob_key(blob), cutoff) or 0
    orphans, orphan_bytes = _unindexed_blobs(platform, cutoff, reachable.blobs, delete=True)
    with platform.sessions.begin() as session:
        imaging_queries.forget_removed_commits(session)
    derived = _derived_garbage(platform, cutoff, reachable.blobs, delete=True)
    blobs_deleted, bytes_freed = len(doomed) + orphans, freed + orphan_bytes
    return _report(
        reachable, deleted_commits, deleted_nodes, blobs_deleted, bytes_freed, derived, dry_run=False
    )


def _derived_garbage(
    platform: Platform,
    cutoff: datetime,
    reachable: set[BlobId],
    *,
    delete: bool,
    leaving: tuple[Collection[str], Collection[str]] = ((), ()),
) -> tuple[int, int]:
    """Delete (or, in a dry run, count) what the pipeline derived that nothing names any more
    (images of files a deleted raw branch held may show PHI): how many objects, and their
    bytes. ``leaving``: the commits and blobs a dry run would remove, as gone already.
    Objects are content-addressed, so one that a surviving row or blob also names stays; a
    run storing one now refreshes it, and gc leaves what is younger than the cutoff."""
    commits, blobs = leaving
    with platform.sessions() as session:
        named = imaging_queries.derived_keys(session, leaving=commits)
    deleted = freed = 0
    for prefix, named_by in DERIVED:
        for batch in vcs_queries.batches(platform.store.list(prefix), 500):
            live = _live_blobs(platform, batch, reachable, gone=blobs) if named_by == "blob" else set()
            for info in batch:
                blob = _blob_of(info.key)
                if info.key in named or (named_by == "blob" and (blob is None or blob in live)):
                    continue
                removed = (
                    _delete_if_stale(platform, info.key, cutoff) if delete else _stale_size(info, cutoff)
                )
                if removed is not None:
                    deleted += 1
                    freed += removed
    return deleted, freed


def _blob_of(key: str) -> str | None:
    """The blob an object keyed by blob was made from; None for a key of another shape (kept)."""
    found = _BLOB_ID.match(key.rsplit("/", 1)[-1])
    return found.group(0) if found else None


def _live_blobs(
    platform: Platform, batch: list[ObjectInfo], reachable: set[BlobId], *, gone: Collection[str]
) -> set[str]:
    """The blobs of these derived objects that the index still holds (and a dry run would keep),
    or that are reachable."""
    named = {blob for info in batch if (blob := _blob_of(info.key))}
    with platform.sessions() as session:
        missing = SqlBlobIndex(session).missing(BlobId(blob) for blob in named)
    return {blob for blob in named if (blob not in missing and blob not in gone) or blob in reachable}


def _report(
    reachable: Reachable,
    commits: int,
    nodes: int,
    blobs: int,
    freed: int,
    derived: tuple[int, int],
    *,
    dry_run: bool,
) -> GcReport:
    """What was (or, in a dry run, would be) deleted, beside what is reachable."""
    return GcReport(
        reachable_commits=len(reachable.commits),
        reachable_nodes=len(reachable.nodes),
        reachable_blobs=len(reachable.blobs),
        deleted_commits=commits,
        deleted_nodes=nodes,
        deleted_blobs=blobs,
        freed_bytes=freed,
        dry_run=dry_run,
        deleted_derived=derived[0],
        derived_bytes=derived[1],
    )


def _roots(session: Session, cutoff: datetime) -> set[CommitId]:
    """Where marking starts: every branch, tag and release, and every commit made since the cutoff."""
    releases = {CommitId(c) for c in release_queries.all_commits(session)}
    return vcs_queries.all_ref_commits(session) | vcs_queries.commits_since(session, cutoff) | releases


def _staged_blobs(session: Session) -> set[BlobId]:
    """Blobs staged on a branch but not committed yet: kept until committed or reset."""
    return {BlobId(b) for b in staging.staged_blobs(session)}


def _delete_if_stale(platform: Platform, key: str, cutoff: datetime) -> int | None:
    """Delete a blob's bytes unless they were written or refreshed since the cutoff (an
    upload of the same content meanwhile); the bytes freed, or None when kept."""
    try:
        info = platform.store.stat(key)
    except ObjectNotFound:
        return None
    size = _stale_size(info, cutoff)
    if size is not None:
        platform.store.delete(key)
    return size


def _stale_size(info: ObjectInfo, cutoff: datetime) -> int | None:
    """The object's size when it is older than the cutoff (gc's to delete), else None."""
    if info.modified is not None and info.modified >= cutoff:
        return None
    return info.size


def check_integrity(platform: Platform, *, deep: bool = False) -> FsckReport:
    with platform.sessions() as session:
        roots = vcs_queries.ref_names(session)
        return fsck(
            SqlCommitStore(session, None),
            SqlNodeStore(session),
            BlobStore(platform.store),
            SqlDeltaStore(session),
            roots,
            deep=deep,
        )


def _unindexed_blobs(
    platform: Platform, cutoff: datetime, reachable: set[BlobId], *, delete: bool
) -> tuple[int, int]:
    """Delete (or, in a dry run, count) stored blob objects that never made it into the
    index (an upload whose transaction failed), older than the cutoff: how many, and their
    bytes. A reachable blob whose index row went missing is kept: fsck reports it."""
    deleted = freed = 0
    batch: list[ObjectInfo] = []

    def flush() -> None:
        nonlocal deleted, freed
        with platform.sessions() as session:
            unknown = SqlBlobIndex(session).missing(BlobId(o.key.rsplit("/", 1)[-1]) for o in batch)
        for info in batch:
            blob = BlobId(info.key.rsplit("/", 1)[-1])
            if blob not in unknown or blob in reachable:
                continue
            removed = _delete_if_stale(platform, info.key, cutoff) if delete else _stale_size(info, cutoff)
            if removed is not None:
                deleted += 1
                freed += removed
        batch.clear()

    for info in platform.store.list("blobs/"):
        batch.append(info)
        if len(batch) >= 500:
            flush()
    if batch:
        flush()
    return deleted, freed
