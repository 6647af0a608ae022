"""What changed between two versions, said in series rather than files.

A reviewer thinks "the CT of patient 12 gained three slices", not "three paths were
added". The file diff (cheap: shared subtrees are skipped) names the changed paths; the
pipeline's index says which series each path belongs to on either side.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from imagehub.core.vcs import Repository
from imagehub.core.vcs.diff import diff_trees
from imagehub.core.vcs.types import Commit
from imagehub.models.imaging import CommitFile, SeriesRow

CHANGED_PATHS_LIMIT = 200_000  # beyond this the page says the comparison is partial
_IN_CLAUSE = 500


class SeriesChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


@dataclass(frozen=True)
class SeriesChange:
    kind: SeriesChangeKind
    key: str
    left: SeriesRow | None
    right: SeriesRow | None
    changed_files: int

    @property
    def row(self) -> SeriesRow:
        """The side that exists (the right one when both do): what the page describes."""
        row = self.right or self.left
        assert row is not None
        return row


@dataclass(frozen=True)
class SeriesComparison:
    changes: list[SeriesChange]
    indexed: bool  # both commits have been through the pipeline's metadata step
    partial: bool  # more changed paths than CHANGED_PATHS_LIMIT were looked at
    unchanged: int


def _keys(session: Session, dataset_id: int, commit_id: str) -> set[str]:
    query = select(SeriesRow.series_key).where(
        SeriesRow.dataset_id == dataset_id, SeriesRow.commit_id == commit_id
    )
    return set(session.scalars(query))


def _rows(session: Session, dataset_id: int, commit_id: str, keys: set[str]) -> dict[str, SeriesRow]:
    """Only the rows the comparison shows, without their (long) member lists."""
    ordered = sorted(keys)
    found: dict[str, SeriesRow] = {}
    for i in range(0, len(ordered), _IN_CLAUSE):
        rows = session.scalars(
            select(SeriesRow)
            .options(defer(SeriesRow.members))
            .where(
                SeriesRow.dataset_id == dataset_id,
                SeriesRow.commit_id == commit_id,
                SeriesRow.series_key.in_(ordered[i : i + _IN_CLAUSE]),
            )
        )
        found.update((row.series_key, row) for row in rows)
    return found


def _indexed(session: Session, dataset_id: int, commit_id: str) -> bool:
    query = select(CommitFile.path).where(
        CommitFile.dataset_id == dataset_id, CommitFile.commit_id == commit_id
    )
    return session.scalar(query.limit(1)) is not None


def _series_keys(session: Session, dataset_id: int, commit_id: str, paths: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for i in range(0, len(paths), _IN_CLAUSE):
        rows = session.execute(
            select(CommitFile.path, CommitFile.series_key).where(
                CommitFile.dataset_id == dataset_id,
                CommitFile.commit_id == commit_id,
                CommitFile.path.in_(paths[i : i + _IN_CLAUSE]),
            )
        )
        found.update((path, key) for path, key in rows if key)
    return found


def compare_series(
    session: Session, repo: Repository, dataset_id: int, left: Commit, right: Commit
) -> SeriesComparison:
    """Series added, removed and modified from ``left`` to ``right``, in series-key order."""
    before, after = _keys(session, dataset_id, left.id), _keys(session, dataset_id, right.id)
    indexed = _indexed(session, dataset_id, left.id) and _indexed(session, dataset_id, right.id)
    changed = islice(diff_trees(repo.reader, left.tree, right.tree), CHANGED_PATHS_LIMIT + 1)
    paths = [change.path for change in changed]
    partial = len(paths) > CHANGED_PATHS_LIMIT
    del paths[CHANGED_PATHS_LIMIT:]
    on_left = _series_keys(session, dataset_id, left.id, paths)
    on_right = _series_keys(session, dataset_id, right.id, paths)
    touched: Counter[str] = Counter()
    for path in paths:
        touched.update({on_left.get(path), on_right.get(path)} - {None})  # type: ignore[arg-type]
    shown = (before ^ after) | (set(touched) & before & after)
    was_rows = _rows(session, dataset_id, left.id, shown & before)
    now_rows = _rows(session, dataset_id, right.id, shown & after)
    result: list[SeriesChange] = []
    for key in sorted(shown):
        was, now = was_rows.get(key), now_rows.get(key)
        if was is None:
            kind = SeriesChangeKind.ADDED
        elif now is None:
            kind = SeriesChangeKind.REMOVED
        else:
            kind = SeriesChangeKind.MODIFIED
        result.append(SeriesChange(kind, key, was, now, touched[key]))
    modified = sum(1 for change in result if change.kind is SeriesChangeKind.MODIFIED)
    return SeriesComparison(result, indexed, partial, len(before & after) - modified)
