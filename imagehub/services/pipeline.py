"""What the pipeline's sensor and schedule ask of ImageHub: which commits need runs.

A partition key is ``owner/name@<commit id>``: readable in the Dagster UI and enough to
find the commit again. New branch heads become new partitions; a partition whose
recorded code version differs from the pipeline's current one is stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import RefKind
from imagehub.core.vcs.nodes import EMPTY_TREE_ID
from imagehub.models.dataset import Dataset
from imagehub.models.imaging import Materialization
from imagehub.models.vcs import CommitRow, RefRow
from imagehub.services.imaging import CommitRef, resolve_commit
from imagehub.services.platform import Platform

SEPARATOR = "@"


def partition_key(dataset: str, commit_id: str) -> str:
    return f"{dataset}{SEPARATOR}{commit_id}"


def parse_partition_key(key: str) -> tuple[str, str]:
    """The dataset (``owner/name``) and commit id a partition key names."""
    dataset, sep, commit_id = key.rpartition(SEPARATOR)
    if not sep or "/" not in dataset or len(commit_id) != 64:
        raise InvalidInput(f"not a dataset commit partition: {key!r} (expected owner/name@<commit id>)")
    return dataset, commit_id


@dataclass(frozen=True)
class BranchHead:
    dataset: str
    branch: str
    commit_id: str

    @property
    def partition_key(self) -> str:
        return partition_key(self.dataset, self.commit_id)


def branch_heads(platform: Platform) -> list[BranchHead]:
    """The head commit of every branch of every live dataset, but for empty ones.

    A new dataset's first commit holds no files: nothing to derive, nothing to show.
    """
    with platform.sessions() as session:
        rows = session.execute(
            select(Dataset.owner, Dataset.name, RefRow.name, RefRow.commit_id)
            .join(RefRow, RefRow.repository_id == Dataset.id)
            .join(CommitRow, (CommitRow.repository_id == Dataset.id) & (CommitRow.id == RefRow.commit_id))
            .where(
                Dataset.deleted_at.is_(None),
                RefRow.kind == RefKind.BRANCH.value,
                CommitRow.tree != EMPTY_TREE_ID,
            )
            .order_by(Dataset.owner, Dataset.name, RefRow.name)
        )
        return [BranchHead(f"{owner}/{name}", branch, commit) for owner, name, branch, commit in rows]


def new_partitions(platform: Platform, known: set[str]) -> list[str]:
    """Partition keys of branch heads not seen before, each once, in a stable order."""
    fresh: dict[str, None] = {}
    for head in branch_heads(platform):
        if head.partition_key not in known:
            fresh.setdefault(head.partition_key)
    return list(fresh)


def stale_partitions(platform: Platform, versions: Mapping[str, str], known: set[str]) -> list[str]:
    """Known partitions whose assets were last built by another code version."""
    with platform.sessions() as session:
        rows = session.execute(
            select(
                Dataset.owner,
                Dataset.name,
                Materialization.commit_id,
                Materialization.asset,
                Materialization.code_version,
            )
            .join(Dataset, Dataset.id == Materialization.dataset_id)
            .where(Dataset.deleted_at.is_(None))
        )
        stale = {
            partition_key(f"{owner}/{name}", commit)
            for owner, name, commit, asset, version in rows
            if asset in versions and versions[asset] != version
        }
    return sorted(stale & known)


def commit_ref(platform: Platform, key: str) -> CommitRef:
    dataset, commit_id = parse_partition_key(key)
    return resolve_commit(platform, dataset, commit_id)
