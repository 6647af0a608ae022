"""Turn a dataset commit into imaging metadata, series, thumbnails and NIfTI volumes.

Each step reads what the previous one wrote to the database, so a step can re-run on
its own (a new code version, a failed run) without redoing the others. Heavy work goes
to the executor in batches; the database is written here, in the calling process.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from imagehub.core.compute import Executor
from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.imaging import InstanceMetadata, group_series, instance_thumbnail
from imagehub.core.vcs import BlobId, Commit, blob_key
from imagehub.core.vcs.types import Entry
from imagehub.models import dataset as dataset_queries
from imagehub.models.base import utcnow
from imagehub.models.imaging import CommitFile, ImagingFile, Materialization, SeriesRow
from imagehub.models.upsert import upsert
from imagehub.services import datasets
from imagehub.services.imaging_work import (
    EXTRACTOR_VERSION,
    STORAGE_FAILURE,
    Derived,
    Extracted,
    FileTask,
    SeriesTask,
    convert_to_nifti,
    extract_metadata,
    render_thumbnails,
)
from imagehub.services.platform import Platform

T = TypeVar("T")
Progress = Callable[[int, int], None]  # done, total
IN_CLAUSE = 500
REPORTED_FAILURES = 20
# Extracted metadata is saved in transactions of at least this many files, not one per
# batch of work: each transaction waits for a disk sync.
STORED_PER_TRANSACTION = 1000


@dataclass(frozen=True)
class CommitRef:
    """One dataset commit: the unit the pipeline is partitioned by."""

    dataset_id: int
    dataset: str  # owner/name
    commit_id: str


@dataclass
class StepSummary:
    """What a step did, for the run's metadata and the materialisation record."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # path or series -> reason (first few)
    seconds: float = 0.0

    def fail(self, name: str, reason: str) -> None:
        if len(self.failures) < REPORTED_FAILURES:
            self.failures[name] = reason

    def as_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "failures": self.failures, "seconds": round(self.seconds, 3)}


def _chunks(items: Sequence[T], size: int = IN_CLAUSE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _no_progress(done: int, total: int) -> None:
    return None


def resolve_commit(platform: Platform, dataset: str, commit_id: str) -> CommitRef:
    owner, _, name = dataset.partition("/")
    with platform.sessions() as session:
        found = dataset_queries.get_live(session, owner=owner, name=name)
        if found is None:
            raise NotFound(f"dataset {dataset!r} not found")
        commit = datasets.repository(session, found).resolve(commit_id)
        return CommitRef(found.id, found.full_name, commit.id)


def _commit(session: Session, ref: CommitRef) -> tuple[Commit, Iterator[Entry]]:
    dataset = session.get_one(dataset_queries.Dataset, ref.dataset_id)
    repo = datasets.repository(session, dataset)
    commit = repo.resolve(ref.commit_id)
    return commit, repo.tree.iterate(commit.tree)


def describe_commit(platform: Platform, ref: CommitRef) -> dict[str, Any]:
    """The raw commit as the pipeline sees it: who, when, how many files and bytes."""
    with platform.sessions() as session:
        commit, entries = _commit(session, ref)
        files = size = 0
        for entry in entries:
            files += 1
            size += entry.size
    return {
        "dataset": ref.dataset,
        "commit": ref.commit_id,
        "author": commit.author,
        "message": commit.message,
        "created_at": commit.created_at.isoformat(),
        "files": files,
        "bytes": size,
    }


def _known_blobs(session: Session, blobs: Sequence[str]) -> set[str]:
    """Blobs this extractor has a row for. Earlier versions recorded a storage outage as the
    file's result; such a row is not known, so the blob is extracted again and the site heals."""
    known: set[str] = set()
    for chunk in _chunks(blobs):
        known.update(
            session.scalars(
                select(ImagingFile.blob).where(
                    ImagingFile.blob.in_(chunk),
                    ImagingFile.extractor == EXTRACTOR_VERSION,
                    ImagingFile.reason.not_like(f"{STORAGE_FAILURE}%"),  # an outage's, earlier
                )
            )
        )
    return known


DOCUMENT = "document"  # a series with nothing to draw: DICOM without pixels (SR, RTSTRUCT, RTPLAN), CIFTI
NIFTI_KEY = "nifti:"  # series keys of NIfTI files: the prefix and the blob
_UIDS = {
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "sop_instance_uid": "SOPInstanceUID",
}
_MAX_UID = 64  # DICOM's limit, and the columns'


def _trusted(result: Extracted) -> Extracted:
    """A UID longer than DICOM allows cannot be trusted to group the file, and no column
    holds it: the file is reported with the reason instead of failing the commit's rows.
    NUL characters are dropped from its text."""
    result = Extracted(result.blob, result.kind, _without_nul(result.reason), _without_nul(result.metadata))
    meta = result.metadata or {}
    for key, keyword in _UIDS.items():
        value = meta.get(key)
        if isinstance(value, str) and len(value) > _MAX_UID:
            reason = f"invalid DICOM: its {keyword} has {len(value)} characters, past the {_MAX_UID} allowed"
            return Extracted(result.blob, "unreadable", reason, None)
    return result


def _without_nul(value: Any) -> Any:
    """The value with NUL characters dropped from its text: a NUL inside a DICOM string is
    out of the standard, and PostgreSQL refuses it in any text column."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_without_nul(v) for v in value)
    return value


def _cut(value: Any, length: int) -> str | None:
    """Text cut to its column (an over-long code string is out of the standard, not fatal)."""
    return str(value)[:length] if value else None


def _file_rows(results: Iterable[Extracted]) -> list[dict[str, Any]]:
    rows = []
    for result in map(_trusted, results):
        meta = result.metadata or {}
        rows.append(
            {
                "blob": result.blob,
                "extractor": EXTRACTOR_VERSION,
                "kind": result.kind,
                "reason": result.reason,
                "study_uid": meta.get("study_instance_uid"),
                "series_uid": meta.get("series_instance_uid"),
                "sop_uid": meta.get("sop_instance_uid"),
                "modality": _cut(meta.get("modality"), 16),
                "body_part": _cut(meta.get("body_part"), 64),
                "series_description": _cut(meta.get("series_description"), 255),
                "attributes": json.dumps(meta, sort_keys=True),
            }
        )
    return rows


def _store_extracted(platform: Platform, results: list[Extracted]) -> None:
    if results:
        with platform.sessions.begin() as session:
            store_metadata_rows(session, results)


def store_metadata_rows(session: Session, results: list[Extracted]) -> None:
    """Record (or replace) each blob's row. Two runs may extract the same new blobs at once
    (datasets sharing an import): the later one's rows replace the earlier's, no error."""
    now = utcnow()
    rows = [{**row, "extracted_at": now} for row in _file_rows(results)]
    upsert(session, ImagingFile.__table__, rows, touch=[name for name in rows[0] if name != "blob"])


def _load_files(session: Session, blobs: Sequence[str]) -> dict[str, ImagingFile]:
    found: dict[str, ImagingFile] = {}
    for chunk in _chunks(blobs):
        found.update(
            (row.blob, row) for row in session.scalars(select(ImagingFile).where(ImagingFile.blob.in_(chunk)))
        )
    return found


def _series_rows(
    ref: CommitRef, entries: Sequence[Entry], files: dict[str, ImagingFile]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Series (DICOM, grouped and ordered) and volumes (NIfTI), and each path's series key."""
    dicom: list[tuple[str, InstanceMetadata]] = []
    rows: list[dict[str, Any]] = []
    key_of: dict[str, str] = {}
    first: dict[str, ImagingFile] = {}
    volumes: set[str] = set()
    for entry in entries:
        row = files[entry.blob]
        if row.kind == "dicom" and row.series_uid:
            dicom.append((entry.path, InstanceMetadata.from_dict(json.loads(row.attributes))))
            first.setdefault(row.series_uid, row)
        elif row.kind == "nifti":
            key = f"{NIFTI_KEY}{entry.blob}"
            if key not in volumes:
                volumes.add(key)
                kind = "nifti" if _on_a_grid(row) else DOCUMENT
                rows.append(_series_row(ref, key, kind, row, [entry.path]))
            key_of[entry.path] = key
    pictured = {path for path, meta in dicom if meta.rows}
    for series in group_series(dicom):
        # Structured reports, RT structures and plans carry no pixels: nothing to render.
        kind = "dicom" if pictured.intersection(series.members) else DOCUMENT
        rows.append(
            _series_row(
                ref, series.series_instance_uid, kind, first[series.series_instance_uid], list(series.members)
            )
        )
    # Every path joins its series, a second copy of an instance too (it is a member once).
    key_of.update((path, meta.series_instance_uid) for path, meta in dicom if meta.series_instance_uid)
    return rows, key_of


def _on_a_grid(row: ImagingFile) -> bool:
    """Whether a NIfTI file holds an image on a spatial grid: CIFTI (surfaces and
    grayordinates, 1 x 1 x 1 in space) holds none a slice viewer could draw."""
    shape: list[int] = json.loads(row.attributes).get("shape") or []
    return math.prod(shape[:3]) > 1


def _series_row(
    ref: CommitRef, key: str, kind: str, sample: ImagingFile, members: list[str]
) -> dict[str, Any]:
    return {
        "dataset_id": ref.dataset_id,
        "commit_id": ref.commit_id,
        "series_key": key,
        "kind": kind,
        "study_uid": sample.study_uid,
        "modality": sample.modality,
        "body_part": sample.body_part,
        "description": sample.series_description,
        "instances": len(members),
        "members": json.dumps(members),
        "thumbnail_key": None,
        "thumbnail_error": "",
        "nifti_key": None,
        "nifti_error": "",
    }


def index_metadata(
    platform: Platform, executor: Executor, ref: CommitRef, progress: Progress = _no_progress
) -> StepSummary:
    """Extract metadata for every file of the commit not already known by its blob."""
    started = time.perf_counter()
    summary = StepSummary()
    with platform.sessions() as session:
        _, iterator = _commit(session, ref)
        entries = list(iterator)
        unique = sorted({e.blob for e in entries})
        known = _known_blobs(session, unique)
    by_blob = {e.blob: e for e in entries}
    todo = [FileTask(b, by_blob[b].size, by_blob[b].path) for b in unique if b not in known]
    done = 0
    work = partial(extract_metadata, platform.settings)
    extracted: list[Extracted] = []
    for results in executor.map_batches(work, todo, platform.settings.pipeline_batch_size):
        extracted += results
        if len(extracted) >= STORED_PER_TRANSACTION:
            _store_extracted(platform, extracted)
            extracted = []
        done += len(results)
        progress(done, len(todo))
    _store_extracted(platform, extracted)
    with platform.sessions.begin() as session:
        files = _load_files(session, unique)
        series, key_of = _series_rows(ref, entries, files)
        _replace_commit_rows(session, ref, entries, key_of, series)
    kinds = Counter(files[e.blob].kind for e in entries)
    for entry in entries:
        if files[entry.blob].kind == "unreadable":
            summary.fail(entry.path, files[entry.blob].reason)
    summary.counts = {
        "files": len(entries),
        "dicom": kinds["dicom"],
        "nifti": kinds["nifti"],
        "unreadable": kinds["unreadable"],
        "extracted": len(todo),
        "reused": len(unique) - len(todo),
        "series": len(series),
    }
    summary.seconds = time.perf_counter() - started
    return summary


def _replace_commit_rows(
    session: Session,
    ref: CommitRef,
    entries: Sequence[Entry],
    key_of: dict[str, str],
    series: list[dict[str, Any]],
) -> None:
    scope = (ref.dataset_id, ref.commit_id)
    series = _keeping_derived(session, ref, series)
    session.execute(
        delete(CommitFile).where(CommitFile.dataset_id == scope[0], CommitFile.commit_id == scope[1])
    )
    session.execute(
        delete(SeriesRow).where(SeriesRow.dataset_id == scope[0], SeriesRow.commit_id == scope[1])
    )
    rows = [
        {
            "dataset_id": scope[0],
            "commit_id": scope[1],
            "path": e.path,
            "blob": e.blob,
            "series_key": key_of.get(e.path),
        }
        for e in entries
    ]
    for chunk in _chunks(rows, 5000):
        session.execute(insert(CommitFile), list(chunk))
    if series:
        session.execute(insert(SeriesRow), series)


DERIVED = ("thumbnail_key", "thumbnail_error", "nifti_key", "nifti_error")


def _keeping_derived(session: Session, ref: CommitRef, series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Series rows for a re-run of the metadata step alone: a series whose members are as
    before keeps the thumbnail and volume made from them, which no later step would remake."""
    before = {row.series_key: row for row in _series_of(session, ref)}
    kept = []
    for row in series:
        old = before.get(row["series_key"])
        if old is not None and old.members == row["members"]:
            row = {**row, **{name: getattr(old, name) for name in DERIVED}}
        kept.append(row)
    return kept


def _series_tasks(session: Session, ref: CommitRef) -> list[SeriesTask]:
    blob_of = {
        path: blob
        for path, blob in session.execute(
            select(CommitFile.path, CommitFile.blob).where(
                CommitFile.dataset_id == ref.dataset_id, CommitFile.commit_id == ref.commit_id
            )
        )
    }
    tasks = []
    for row in _series_of(session, ref):
        if row.kind == DOCUMENT:
            continue
        members: list[str] = json.loads(row.members)
        tasks.append(SeriesTask(row.series_key, row.kind, tuple(blob_of[p] for p in members), members[0]))
    return tasks


def _series_of(session: Session, ref: CommitRef) -> list[SeriesRow]:
    return list(
        session.scalars(
            select(SeriesRow)
            .where(SeriesRow.dataset_id == ref.dataset_id, SeriesRow.commit_id == ref.commit_id)
            .order_by(SeriesRow.series_key)
        )
    )


def _derive(
    platform: Platform,
    executor: Executor,
    ref: CommitRef,
    work: Callable[..., list[Derived]],
    columns: tuple[str, str],
    progress: Progress,
) -> StepSummary:
    """Run a per-series step and write its key (or error) onto each series row."""
    started = time.perf_counter()
    summary = StepSummary()
    with platform.sessions() as session:
        tasks = _series_tasks(session, ref)
    key_column, error_column = columns
    done = made = 0
    # Series are big units of work: a few per task keeps both cores busy.
    for results in executor.map_batches(partial(work, platform.settings), tasks, 2):
        with platform.sessions.begin() as session:
            for result in results:
                row = session.get_one(SeriesRow, (ref.dataset_id, ref.commit_id, result.series_key))
                setattr(row, key_column, result.key)
                setattr(row, error_column, result.error)
                if result.key:
                    made += 1
                else:
                    summary.fail(result.series_key, result.error)
        done += len(results)
        progress(done, len(tasks))
    summary.counts = {"series": len(tasks), "made": made, "failed": len(tasks) - made}
    summary.seconds = time.perf_counter() - started
    return summary


def render_series_thumbnails(
    platform: Platform, executor: Executor, ref: CommitRef, progress: Progress = _no_progress
) -> StepSummary:
    return _derive(platform, executor, ref, render_thumbnails, ("thumbnail_key", "thumbnail_error"), progress)


def convert_series_to_nifti(
    platform: Platform, executor: Executor, ref: CommitRef, progress: Progress = _no_progress
) -> StepSummary:
    return _derive(platform, executor, ref, convert_to_nifti, ("nifti_key", "nifti_error"), progress)


@dataclass(frozen=True)
class Completeness:
    expected: int
    present: int
    missing: list[str]  # the first few that are missing

    @property
    def complete(self) -> bool:
        return self.present == self.expected


def metadata_completeness(platform: Platform, ref: CommitRef) -> Completeness:
    """Every file of the commit has a metadata row (an unreadable file's row says why)."""
    with platform.sessions() as session:
        _, entries = _commit(session, ref)
        paths = {e.path: e.blob for e in entries}
        indexed = {
            path: blob
            for path, blob in session.execute(
                select(CommitFile.path, CommitFile.blob)
                .join(ImagingFile, ImagingFile.blob == CommitFile.blob)
                .where(CommitFile.dataset_id == ref.dataset_id, CommitFile.commit_id == ref.commit_id)
            )
        }
    missing = sorted(p for p, blob in paths.items() if indexed.get(p) != blob)
    return Completeness(len(paths), len(paths) - len(missing), missing[:REPORTED_FAILURES])


def thumbnail_completeness(platform: Platform, ref: CommitRef) -> Completeness:
    """Every series and volume of the commit has a thumbnail (series of documents, which
    hold no pixels, are not expected to)."""
    with platform.sessions() as session:
        rows = [row for row in _series_of(session, ref) if row.kind != DOCUMENT]
    missing = [r.series_key for r in rows if not r.thumbnail_key]
    return Completeness(len(rows), len(rows) - len(missing), missing[:REPORTED_FAILURES])


def series(platform: Platform, ref: CommitRef) -> list[SeriesRow]:
    """The commit's series and volumes with their derived artefacts: its lineage."""
    with platform.sessions() as session:
        rows = _series_of(session, ref)
        session.expunge_all()
        return rows


FINAL_STEPS = ("series_thumbnails", "nifti_volumes")  # the last assets of a version's run


def processed(platform: Platform, dataset_id: int, commit_id: str) -> bool:
    """Whether the pipeline's run for the commit has finished: its last steps are recorded.
    Series rows alone say nothing: a DICOMweb search indexes a version on first use."""
    with platform.sessions() as session:
        done = session.scalars(
            select(Materialization.asset).where(
                Materialization.dataset_id == dataset_id,
                Materialization.commit_id == commit_id,
                Materialization.asset.in_(FINAL_STEPS),
            )
        ).all()
    return set(done) == set(FINAL_STEPS)


def record_materialization(
    platform: Platform, ref: CommitRef, asset: str, code_version: str, summary: dict[str, Any], seconds: float
) -> None:
    with platform.sessions.begin() as session:
        row = session.get(Materialization, (ref.dataset_id, ref.commit_id, asset))
        if row is None:
            row = Materialization(dataset_id=ref.dataset_id, commit_id=ref.commit_id, asset=asset)
            session.add(row)
        row.code_version = code_version
        row.summary = json.dumps(summary, sort_keys=True, default=str)
        row.seconds = seconds
        row.materialized_at = utcnow()


def instance_thumbnail_png(platform: Platform, entry: Entry, size: int) -> bytes:
    """A PNG of one file, rendered on first request and kept (by content and size) after."""
    if not 16 <= size <= 1024:
        raise InvalidInput("thumbnail size must be between 16 and 1024 pixels")
    key = f"derived/instance-thumbnails/{entry.blob[:2]}/{entry.blob}-{size}.png"
    if platform.store.exists(key):
        return b"".join(platform.store.get(key))
    with platform.store.open(blob_key(BlobId(entry.blob)), entry.size) as stream:
        png = instance_thumbnail(stream, entry.path, size)
    platform.store.put(key, png)
    return png


def derived_bytes(platform: Platform, key: str) -> bytes:
    return b"".join(platform.store.get(key))


def series_at(platform: Platform, dataset_id: int, commit_id: str, dataset: str) -> list[SeriesRow]:
    """The series the pipeline derived for a commit (empty until its run has finished)."""
    return series(platform, CommitRef(dataset_id, dataset, commit_id))
