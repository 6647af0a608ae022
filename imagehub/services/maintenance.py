"""Garbage collection and fsck over every dataset.

GC marks from every branch and tag and from every commit younger than the grace
period, then removes what is unreachable *and* untouched since the grace cutoff.
Each removal is a conditional delete, so a commit that touches a blob or node in the
meantime wins: its row survives, or its commit fails cleanly with "blob missing".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from imagehub.core.storage import ObjectInfo
from imagehub.core.vcs import BlobId, BlobStore, blob_key
from imagehub.core.vcs.maintenance import FsckReport, fsck, mark
from imagehub.models import vcs as vcs_queries
from imagehub.models.base import utcnow
from imagehub.models.vcs import SqlBlobIndex, SqlCommitStore, SqlDeltaStore, SqlNodeStore
from imagehub.services.platform import Platform
from imagehub.services.transport import expire_uploads

DEFAULT_GRACE = timedelta(hours=6)


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


def collect_garbage(
    platform: Platform, *, grace: timedelta = DEFAULT_GRACE, dry_run: bool = False
) -> GcReport:
    started = utcnow()
    cutoff = started - grace
    with platform.sessions() as session:
        roots = vcs_queries.all_ref_commits(session) | vcs_queries.commits_since(session, cutoff)
        reachable = mark(SqlCommitStore(session, None), SqlNodeStore(session), roots)
    deleted_commits = deleted_nodes = 0
    doomed: list[BlobId] = []
    if not dry_run:
        with platform.sessions.begin() as session:
            expire_uploads(session, platform)  # abandoned upload sessions and their parts
        with platform.sessions.begin() as session:
            deleted_commits = vcs_queries.sweep_commits(session, reachable.commits, cutoff)
            deleted_nodes = vcs_queries.sweep_nodes(session, reachable.nodes, cutoff)
            doomed = vcs_queries.sweep_blobs(session, reachable.blobs, cutoff)
    freed = 0
    for blob in doomed:  # rows are gone and committed: no commit can take these any more
        key = blob_key(blob)
        if platform.store.exists(key):
            freed += platform.store.stat(key).size
            platform.store.delete(key)
    if not dry_run:
        orphans, orphan_bytes = _delete_unindexed_blobs(platform, cutoff)
        doomed += orphans
        freed += orphan_bytes
    return GcReport(
        reachable_commits=len(reachable.commits),
        reachable_nodes=len(reachable.nodes),
        reachable_blobs=len(reachable.blobs),
        deleted_commits=deleted_commits,
        deleted_nodes=deleted_nodes,
        deleted_blobs=len(doomed),
        freed_bytes=freed,
        dry_run=dry_run,
    )


def check_integrity(platform: Platform, *, deep: bool = False) -> FsckReport:
    with platform.sessions() as session:
        roots = vcs_queries.all_ref_commits(session)
        return fsck(
            SqlCommitStore(session, None),
            SqlNodeStore(session),
            BlobStore(platform.store),
            SqlDeltaStore(session),
            roots,
            deep=deep,
        )


def _delete_unindexed_blobs(platform: Platform, cutoff: datetime) -> tuple[list[BlobId], int]:
    """Stored blob objects that never made it into the index (an upload whose
    transaction failed), older than the cutoff."""
    deleted: list[BlobId] = []
    freed = 0
    batch: list[ObjectInfo] = []

    def flush() -> None:
        nonlocal freed
        with platform.sessions() as session:
            unknown = SqlBlobIndex(session).missing(BlobId(o.key.rsplit("/", 1)[-1]) for o in batch)
        for info in batch:
            blob = BlobId(info.key.rsplit("/", 1)[-1])
            if blob in unknown and info.modified is not None and info.modified < cutoff:
                platform.store.delete(info.key)
                deleted.append(blob)
                freed += info.size
        batch.clear()

    for info in platform.store.list("blobs/"):
        batch.append(info)
        if len(batch) >= 500:
            flush()
    if batch:
        flush()
    return deleted, freed
