"""What the pipeline's sensor and schedule ask of ImageHub: which commits need runs.

A partition key is ``owner/name@<commit id>``: readable in the Dagster UI and enough to
find the commit again. New branch heads become new partitions; a partition whose
recorded code version differs from the pipeline's current one is stale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.deid.verify import SCANNER_VERSION
from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import RefKind
from imagehub.core.vcs.nodes import EMPTY_TREE_ID
from imagehub.models.dataset import Dataset
from imagehub.models.imaging import Materialization
from imagehub.models.vcs import CommitRow, RefRow
from imagehub.services.imaging import CommitRef, resolve_commit
from imagehub.services.imaging_work import EXTRACTOR_VERSION
from imagehub.services.platform import Platform

SEPARATOR = "@"

# Code versions of the pipeline's assets: bump one when its output would change for the
# same commit. Dagster shows them beside each materialisation, the reprocessing schedule
# re-runs every partition last built by another version, and the portal flags old builds.
CODE_VERSIONS: dict[str, str] = {
    "raw_commit": "1",
    "instance_metadata": f"3-x{EXTRACTOR_VERSION}",  # 3: CIFTI is a document, not a volume to draw
    "series_thumbnails": "2",  # 2: each frame of an enhanced object keeps its own rescale
    "nifti_volumes": "2",  # 2: volumes of enhanced (multi-frame) and RT dose objects
    "deidentified_commit": "1",
    "phi_gate": f"2-s{SCANNER_VERSION}",  # 2: the report names the policy it screened under
}


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


def stale_partitions(
    platform: Platform, versions: Mapping[str, str], known: set[str]
) -> dict[str, dict[str, str]]:
    """Known partitions whose assets were last built by another code version: for each, the
    stale assets and the build each comes from (its version and when it was made: a second
    change between the same two versions, after a rollback, is a change again)."""
    with platform.sessions() as session:
        rows = session.execute(
            select(
                Dataset.owner,
                Dataset.name,
                Materialization.commit_id,
                Materialization.asset,
                Materialization.code_version,
                Materialization.materialized_at,
            )
            .join(Dataset, Dataset.id == Materialization.dataset_id)
            .where(Dataset.deleted_at.is_(None))
        )
        stale: dict[str, dict[str, str]] = {}
        for owner, name, commit, asset, version, built_at in rows:
            key = partition_key(f"{owner}/{name}", commit)
            if key in known and asset in versions and versions[asset] != version:
                stale.setdefault(key, {})[asset] = f"{version}@{built_at.isoformat()}"
    return {key: stale[key] for key in sorted(stale)}


def commit_ref(platform: Platform, key: str) -> CommitRef:
    dataset, commit_id = parse_partition_key(key)
    return resolve_commit(platform, dataset, commit_id)


@dataclass(frozen=True)
class AssetStatus:
    """One pipeline asset as built for a commit, for the portal's status panel."""

    asset: str
    code_version: str
    seconds: float
    materialized_at: datetime
    summary: dict[str, Any]
    current: bool  # built by the pipeline's current code version


def commit_status(
    session: Session, dataset_id: int, commit_id: str, versions: Mapping[str, str]
) -> list[AssetStatus]:
    """The assets built for a commit, in pipeline order where known."""
    rows = session.scalars(
        select(Materialization).where(
            Materialization.dataset_id == dataset_id, Materialization.commit_id == commit_id
        )
    )
    order = {name: i for i, name in enumerate(versions)}
    found = [
        AssetStatus(
            row.asset,
            row.code_version,
            row.seconds,
            row.materialized_at,
            json.loads(row.summary or "{}"),
            versions.get(row.asset) == row.code_version,
        )
        for row in rows
    ]
    return sorted(found, key=lambda s: (order.get(s.asset, len(order)), s.asset))


def dagster_asset_url(base: str, asset: str, dataset: str, commit_id: str) -> str:
    """A link into the Dagster UI at this commit's partition of an asset."""
    partition = quote(partition_key(dataset, commit_id), safe="")
    return f"{base.rstrip('/')}/assets/{quote(asset)}?partition={partition}"
