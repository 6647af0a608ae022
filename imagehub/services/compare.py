"""What changed between two versions, said in series rather than files.

A reviewer thinks "the CT of patient 12 gained three slices", not "three paths were
added". The file diff (cheap: shared subtrees are skipped) names the changed paths; the
pipeline's index says which series each path belongs to on either side, and which study
(StudyInstanceUID) each series belongs to, so the series changes also read as study changes.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from imagehub.core.vcs import Repository
from imagehub.core.vcs.types import Commit
from imagehub.models.imaging import CommitFile, ImagingFile, SeriesRow, commit_indexed

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
class StudyChange:
    """The changed series of one study; ``uid`` is None for those with no study (NIfTI volumes).

    ``kind`` says whether the study itself is new (none of its series existed before), gone
    (none exists after) or modified; the counts say what happened to its series.
    """

    kind: SeriesChangeKind
    uid: str | None
    description: str | None
    date: str | None  # YYYY-MM-DD when the header holds a full DICOM date
    modalities: tuple[str, ...]  # of the study's series on either side, not only the changed ones
    series: list[SeriesChange]

    def count(self, kind: str) -> int:
        return sum(1 for change in self.series if change.kind == kind)


@dataclass(frozen=True)
class SeriesComparison:
    changes: list[SeriesChange]
    studies: list[StudyChange]  # the same changes, grouped by StudyInstanceUID
    indexed: bool  # both commits have been through the pipeline's metadata step
    partial: bool  # more changed paths than CHANGED_PATHS_LIMIT were looked at
    unchanged: int


def _kind(*, existed: bool, exists: bool) -> SeriesChangeKind:
    """A series or study that changed is added, removed, or otherwise modified."""
    if not existed:
        return SeriesChangeKind.ADDED
    return SeriesChangeKind.MODIFIED if exists else SeriesChangeKind.REMOVED


SeriesIndex = dict[str, tuple[str | None, str | None]]  # series key -> (study UID, modality)
ChangedFiles = dict[str, tuple[str, str]]  # changed path -> (series key, blob)


def _index(session: Session, dataset_id: int, commit_id: str) -> SeriesIndex:
    query = select(SeriesRow.series_key, SeriesRow.study_uid, SeriesRow.modality).where(
        SeriesRow.dataset_id == dataset_id, SeriesRow.commit_id == commit_id
    )
    return {key: (study, modality) for key, study, modality in session.execute(query)}


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


def _changed_files(session: Session, dataset_id: int, commit_id: str, paths: list[str]) -> ChangedFiles:
    found: ChangedFiles = {}
    for i in range(0, len(paths), _IN_CLAUSE):
        rows = session.execute(
            select(CommitFile.path, CommitFile.series_key, CommitFile.blob).where(
                CommitFile.dataset_id == dataset_id,
                CommitFile.commit_id == commit_id,
                CommitFile.path.in_(paths[i : i + _IN_CLAUSE]),
            )
        )
        found.update((path, (key, blob)) for path, key, blob in rows if key)
    return found


def _iso_date(value: str | None) -> str | None:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


def _study_headers(session: Session, samples: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """Description and date of each study, from the indexed header of one of its changed files
    (study-level tags are the same in every file of a study)."""
    blobs = sorted(set(samples.values()))
    attributes: dict[str, str] = {}
    for i in range(0, len(blobs), _IN_CLAUSE):
        query = select(ImagingFile.blob, ImagingFile.attributes).where(
            ImagingFile.blob.in_(blobs[i : i + _IN_CLAUSE])
        )
        attributes.update((blob, text) for blob, text in session.execute(query))
    headers: dict[str, tuple[str | None, str | None]] = {}
    for study, blob in samples.items():
        if blob in attributes:
            meta = json.loads(attributes[blob])
            headers[study] = (meta.get("study_description") or None, _iso_date(meta.get("study_date")))
    return headers


def _samples(index: SeriesIndex, files: ChangedFiles) -> dict[str, str]:
    """One changed file (its blob) per study of one side."""
    found: dict[str, str] = {}
    for key, blob in files.values():
        study = index.get(key, (None, None))[0]
        if study is not None:
            found.setdefault(study, blob)
    return found


def _group_by_study(
    session: Session,
    changes: list[SeriesChange],
    left: tuple[SeriesIndex, ChangedFiles],
    right: tuple[SeriesIndex, ChangedFiles],
) -> list[StudyChange]:
    """Series changes under their studies, in study UID order, the series with no study last."""
    grouped: defaultdict[str | None, list[SeriesChange]] = defaultdict(list)
    for change in changes:
        grouped[change.row.study_uid].append(change)
    before, after = left[0], right[0]
    had = {study for study, _ in before.values()}
    has = {study for study, _ in after.values()}
    modalities: defaultdict[str | None, set[str]] = defaultdict(set)
    for study, modality in (*before.values(), *after.values()):
        if study in grouped and modality:
            modalities[study].add(modality)
    headers = _study_headers(session, {**_samples(*left), **_samples(*right)})  # the after side wins
    studies: list[StudyChange] = []
    for uid in sorted(grouped, key=lambda study: (study is None, study or "")):
        kind = _kind(existed=uid in had, exists=uid in has)
        description, date = headers.get(uid, (None, None)) if uid else (None, None)
        studies.append(
            StudyChange(kind, uid, description, date, tuple(sorted(modalities[uid])), grouped[uid])
        )
    return studies


def compare_series(
    session: Session, repo: Repository, dataset_id: int, left: Commit, right: Commit
) -> SeriesComparison:
    """Series added, removed and modified from ``left`` to ``right``, in series-key order,
    and the same grouped by study."""
    before, after = _index(session, dataset_id, left.id), _index(session, dataset_id, right.id)
    indexed = commit_indexed(session, dataset_id, left.id) and commit_indexed(session, dataset_id, right.id)
    changed = islice(repo.changes(left, right), CHANGED_PATHS_LIMIT + 1)
    paths = [change.path for change in changed]
    partial = len(paths) > CHANGED_PATHS_LIMIT
    del paths[CHANGED_PATHS_LIMIT:]
    on_left = _changed_files(session, dataset_id, left.id, paths)
    on_right = _changed_files(session, dataset_id, right.id, paths)
    touched: Counter[str] = Counter()
    for path in paths:
        touched.update({files[path][0] for files in (on_left, on_right) if path in files})
    both = before.keys() & after.keys()
    shown = (before.keys() ^ after.keys()) | (touched.keys() & both)
    was_rows = _rows(session, dataset_id, left.id, shown & before.keys())
    now_rows = _rows(session, dataset_id, right.id, shown & after.keys())
    result: list[SeriesChange] = []
    for key in sorted(shown):
        was, now = was_rows.get(key), now_rows.get(key)
        kind = _kind(existed=was is not None, exists=now is not None)
        result.append(SeriesChange(kind, key, was, now, touched[key]))
    modified = sum(1 for change in result if change.kind is SeriesChangeKind.MODIFIED)
    studies = _group_by_study(session, result, (before, on_left), (after, on_right))
    return SeriesComparison(result, studies, indexed, partial, len(both) - modified)
