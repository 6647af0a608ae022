"""DICOMweb over a dataset version: searches answered from the imaging index, instances,
frames and renderings read from stored blobs, and stores into a branch as one commit.

Instances are found through the per-commit index (imaging_commit_files + imaging_files),
built on demand for a version nobody indexed yet. What a viewer asks again for every frame
(where an instance is, where its pixels are) is cached in process, keyed by what never
changes: a commit id or a blob id.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, TypeVar

from pydicom.dataset import Dataset as DicomDataset
from pydicom.uid import UID
from sqlalchemy import or_, select

from imagehub.core.compute.local import LocalExecutor
from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.imaging import dicomjson, part10, qido, stow, transcode
from imagehub.core.imaging.frames import (
    PixelLayout,
    compressed_frames,
    decode_frames,
    native_pixel_value,
    read_header,
)
from imagehub.core.imaging.render import ImageFormat, Rendering, render
from imagehub.core.vcs import BlobId, BlobStore, ChangeSet, Commit, Entry, RefKind, Repository, blob_key
from imagehub.models.dataset import Dataset
from imagehub.models.imaging import CommitFile, ImagingFile
from imagehub.models.vcs import BlobRow
from imagehub.services import blobs, datasets, imaging
from imagehub.services.imaging import CommitRef
from imagehub.services.imaging_work import EXTRACTOR_VERSION
from imagehub.services.platform import Platform

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A bounded mapping that forgets the least recently used keys; shared by request threads.
    ``size`` bounds the sum of what ``weigh`` says of each value (their number by default); a
    value heavier than that alone is not kept."""

    def __init__(self, size: int, weigh: Callable[[V], int] = lambda _: 1) -> None:
        self._size = size
        self._weigh = weigh
        self._weight = 0
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        weight = self._weigh(value)
        if weight > self._size:
            return
        with self._lock:
            replaced = self._items.pop(key, None)
            self._weight += weight - (0 if replaced is None else self._weigh(replaced))
            self._items[key] = value
            while self._weight > self._size:
                _, dropped = self._items.popitem(last=False)
                self._weight -= self._weigh(dropped)


@dataclass(frozen=True)
class Instance:
    """One DICOM instance of a version and the blob that holds it."""

    study: str
    series: str
    sop: str
    path: str
    blob: str
    size: int


@dataclass(frozen=True)
class StowOutcome:
    stored: list[stow.Accepted]
    failed: list[stow.Rejected]
    commit: str | None  # None when nothing new was stored


_INDEXED: _Lru[tuple[int, str], bool] = _Lru(10_000)
_INSTANCES: _Lru[tuple[int, str, str, str], Instance] = _Lru(100_000)  # (dataset, commit, series, SOP)
_LAYOUTS: _Lru[str, PixelLayout] = _Lru(10_000)  # by blob
_PART10: _Lru[str, bool] = _Lru(100_000)  # whether a blob is a Part-10 file as stored
_SYNTAXES: _Lru[str, str] = _Lru(100_000)  # the transfer syntax a blob is stored in
_HEADERS: _Lru[tuple[str, str], dict[str, Any]] = _Lru(2_048)  # DICOM JSON by (blob, instance URL)
# A version's searchable records, by (dataset, commit, extractor): at most 50,000 in all (~50 MB).
_CATALOGS: _Lru[tuple[int, str, str], list[dict[str, Any]]] = _Lru(50_000, weigh=len)
_INDEXING = threading.Lock()  # one on-demand indexing at a time in this process


def version(platform: Platform, dataset_id: int, dataset: str, commit_id: str) -> CommitRef:
    """A version whose files are all in the index with the current extractor's metadata."""
    ref = CommitRef(dataset_id, dataset, commit_id)
    if _INDEXED.get((dataset_id, commit_id)) is None:
        with _INDEXING:
            if not _indexed(platform, ref):
                imaging.index_metadata(platform, LocalExecutor(), ref)  # incremental by blob
        _INDEXED.put((dataset_id, commit_id), True)
    return ref


def _indexed(platform: Platform, ref: CommitRef) -> bool:
    scope = (CommitFile.dataset_id == ref.dataset_id, CommitFile.commit_id == ref.commit_id)
    stale = or_(ImagingFile.blob.is_(None), ImagingFile.extractor != EXTRACTOR_VERSION)
    with platform.sessions() as session:
        listed = session.scalar(select(CommitFile.path).where(*scope).limit(1))
        outdated = session.scalar(
            select(CommitFile.path)
            .outerjoin(ImagingFile, ImagingFile.blob == CommitFile.blob)
            .where(*scope, stale)
            .limit(1)
        )
    return listed is not None and outdated is None


def search(
    platform: Platform,
    ref: CommitRef,
    level: qido.Level,
    query: qido.Query,
    urls: dicomjson.Urls,
    *,
    study: str | None = None,
    series: str | None = None,
) -> list[dict[str, Any]]:
    """QIDO-RS results as DICOM JSON; ``study`` and ``series`` are the ones the URL names."""
    records = _catalog(platform, ref, (study,) if study else query.uids("StudyInstanceUID"))
    fixed = {lvl: uid for lvl, uid in ((qido.Level.STUDY, study), (qido.Level.SERIES, series)) if uid}
    found = qido.search(records, level, query, fixed=fixed)
    return [dicomjson.attributes({**item, "RetrieveURL": _retrieve_url(urls, level, item)}) for item in found]


def _retrieve_url(urls: dicomjson.Urls, level: qido.Level, item: qido.Record) -> str:
    study = item["StudyInstanceUID"]
    if level is qido.Level.STUDY:
        return urls.study(study)
    if level is qido.Level.SERIES:
        return urls.series(study, item["SeriesInstanceUID"])
    return urls.instance(study, item["SeriesInstanceUID"], item["SOPInstanceUID"])


def _blobs_of_sops(platform: Platform, ref: CommitRef, sops: Sequence[str]) -> dict[str, set[str]]:
    """The blobs holding each of these SOP Instance UIDs in an indexed version, whatever their path."""
    held: dict[str, set[str]] = {}
    with platform.sessions() as session:
        for start in range(0, len(sops), 500):
            rows = session.execute(
                select(ImagingFile.sop_uid, CommitFile.blob)
                .join(CommitFile, CommitFile.blob == ImagingFile.blob)
                .where(
                    CommitFile.dataset_id == ref.dataset_id,
                    CommitFile.commit_id == ref.commit_id,
                    ImagingFile.sop_uid.in_(sops[start : start + 500]),
                )
            )
            for sop, blob in rows:
                held.setdefault(str(sop), set()).add(blob)
    return held


def _catalog(platform: Platform, ref: CommitRef, studies: Sequence[str] | None) -> list[dict[str, Any]]:
    """The version's aggregated records (of ``studies`` only, when named). A version never
    changes, so those of a whole version are kept and searched again without the database;
    a search of named studies loads only theirs until the whole version is kept."""
    key = (ref.dataset_id, ref.commit_id, EXTRACTOR_VERSION)
    kept = _CATALOGS.get(key)
    if kept is not None:
        named = set(studies or ())
        return kept if studies is None else [r for r in kept if r["StudyInstanceUID"] in named]
    found = qido.aggregate(_records(platform, ref, studies))
    if studies is None:
        _CATALOGS.put(key, found)
    return found


def _records(platform: Platform, ref: CommitRef, studies: Sequence[str] | None) -> list[dict[str, Any]]:
    stmt = (
        select(ImagingFile.attributes)
        .join(CommitFile, CommitFile.blob == ImagingFile.blob)
        .where(
            CommitFile.dataset_id == ref.dataset_id,
            CommitFile.commit_id == ref.commit_id,
            ImagingFile.kind == "dicom",
        )
    )
    if studies is not None:
        stmt = stmt.where(ImagingFile.study_uid.in_(studies))
    with platform.sessions() as session:
        return [qido.record(json.loads(text)) for text in session.scalars(stmt)]


def instances(platform: Platform, ref: CommitRef, study: str, series: str | None = None) -> list[Instance]:
    """A study's or series' instances at a version, series by series."""
    found = _instances(platform, ref, study, series)
    if not found:
        scope = f"series {series} of study {study}" if series else f"study {study}"
        raise NotFound(f"no {scope} at this version")
    return found


def _instances(platform: Platform, ref: CommitRef, study: str, series: str | None) -> list[Instance]:
    stmt = (
        select(
            ImagingFile.study_uid,
            ImagingFile.series_uid,
            ImagingFile.sop_uid,
            CommitFile.path,
            CommitFile.blob,
            BlobRow.size,
        )
        .join(ImagingFile, ImagingFile.blob == CommitFile.blob)
        .join(BlobRow, BlobRow.id == CommitFile.blob)
        .where(
            CommitFile.dataset_id == ref.dataset_id,
            CommitFile.commit_id == ref.commit_id,
            ImagingFile.kind == "dicom",
            ImagingFile.study_uid == study,
        )
        .order_by(ImagingFile.series_uid, CommitFile.path)
    )
    if series is not None:
        stmt = stmt.where(ImagingFile.series_uid == series)
    with platform.sessions() as session:
        rows = session.execute(stmt).all()
    found: dict[tuple[str, str], Instance] = {}  # by (series, SOP): a UID reused across series stays in each
    for row in rows:
        key = (row.series_uid, row.sop_uid)
        if row.sop_uid and row.series_uid and key not in found:
            found[key] = Instance(study, row.series_uid, row.sop_uid, row.path, row.blob, row.size)
            _INSTANCES.put((ref.dataset_id, ref.commit_id, *key), found[key])
    return list(found.values())


def instance(platform: Platform, ref: CommitRef, study: str, series: str, sop: str) -> Instance:
    """One instance; a miss loads (and caches) its whole series, which a viewer reads next."""
    found = _INSTANCES.get((ref.dataset_id, ref.commit_id, series, sop))
    if found is None:
        found = next((i for i in _instances(platform, ref, study, series) if i.sop == sop), None)
    if found is None or (found.study, found.series) != (study, series):
        raise NotFound(f"no instance {sop} in series {series} of study {study} at this version")
    return found


def middle_instance(platform: Platform, ref: CommitRef, study: str, series: str) -> Instance:
    """The instance in the middle of the anatomy, by the series' geometric order where known."""
    by_path = {i.path: i for i in instances(platform, ref, study, series)}
    ordered: list[str] = next(
        (json.loads(row.members) for row in imaging.series(platform, ref) if row.series_key == series), []
    )
    paths = [path for path in ordered if path in by_path] or sorted(by_path)
    return by_path[paths[len(paths) // 2]]


def study_images(platform: Platform, ref: CommitRef, study: str) -> list[Instance]:
    """The images a study is shown as: each series' middle instance (as the series' own rendered
    resource shows it), series by series as ``instances`` lists them, where it has pixel data
    (a report's series has none)."""
    found = list(_study_images(platform, ref, study))
    if not found:
        raise NotFound(f"study {study} has no image at this version")
    return found


def study_image(platform: Platform, ref: CommitRef, study: str) -> Instance:
    """The study's representative image: its first series' (``study_images``), the others unread."""
    found = next(_study_images(platform, ref, study), None)
    if found is None:
        raise NotFound(f"study {study} has no image at this version")
    return found


def _study_images(platform: Platform, ref: CommitRef, study: str) -> Iterator[Instance]:
    for series in dict.fromkeys(item.series for item in instances(platform, ref, study)):
        item = middle_instance(platform, ref, study, series)
        if _pixel_layout(platform, item) is not None:
            yield item


def stored_syntax(platform: Platform, item: Instance) -> str:
    """The transfer syntax an instance is stored in (the one its encoding shows, for a file
    stored without file meta information)."""
    known = _SYNTAXES.get(item.blob)
    if known is None:
        ds, _ = _header(platform, item)
        known = _syntax_of(ds)
    return known


def _syntax_of(ds: DicomDataset) -> str:
    return str(ds.file_meta.get("TransferSyntaxUID") or transcode.EXPLICIT_LITTLE_ENDIAN)


def _header(platform: Platform, item: Instance) -> tuple[DicomDataset, PixelLayout | None]:
    """The instance's header without pixel data. Where its pixel data is and its transfer
    syntax are kept, as a viewer asks them again for every frame."""
    with _open(platform, item) as stream:
        ds, layout = read_header(stream, item.path)
    if layout is not None:
        _LAYOUTS.put(item.blob, layout)
    _SYNTAXES.put(item.blob, _syntax_of(ds))
    return ds, layout


def undecodable(platform: Platform, items: Sequence[Instance]) -> list[tuple[Instance, str]]:
    """The instances (with their transfer syntax) whose pixel data cannot be made native here."""
    syntaxes = [(item, stored_syntax(platform, item)) for item in items]
    return [(item, syntax) for item, syntax in syntaxes if not transcode.decodable(syntax)]


def read(platform: Platform, item: Instance, *, explicit: bool = False) -> Iterator[bytes]:
    """The Part-10 bytes of an instance, chunk by chunk: as stored, or for a file stored
    without its preamble and file meta information, with them added; when ``explicit``,
    re-encoded in Explicit VR Little Endian unless it is stored so."""
    if explicit and stored_syntax(platform, item) != transcode.EXPLICIT_LITTLE_ENDIAN:
        with _open(platform, item) as handle:
            return iter([transcode.explicit_little_endian(handle, item.path)])
    known = _PART10.get(item.blob)
    if known is None:
        with _open(platform, item) as handle:
            known = part10.is_part10(handle.read(part10.HEAD))
        _PART10.put(item.blob, known)
    if known:
        return BlobStore(platform.store).open(BlobId(item.blob))
    with _open(platform, item) as handle:
        return iter([part10.as_part10(handle)])


def _open(platform: Platform, item: Instance) -> BinaryIO:
    return platform.store.open(blob_key(BlobId(item.blob)), item.size)


def metadata(platform: Platform, items: Sequence[Instance], urls: dicomjson.Urls) -> list[dict[str, Any]]:
    """Each instance's full header as DICOM JSON, bulk data and pixel data by reference.

    Kept per (content, URL) once built: viewers ask for a series' metadata every time it
    is opened, and parsing every header again dominated the time to the first image.
    """
    out = []
    for item in items:
        key = (item.blob, urls.instance(item.study, item.series, item.sop))
        cached = _HEADERS.get(key)
        if cached is None:
            cached = _instance_metadata(platform, item, urls)
            _HEADERS.put(key, cached)
        out.append(cached)
    return out


def _instance_metadata(platform: Platform, item: Instance, urls: dicomjson.Urls) -> dict[str, Any]:
    ds, layout = _header(platform, item)
    pixel = (layout.tag, layout.vr) if layout else None
    found = dicomjson.header(ds, urls.bulkdata(item.study, item.series, item.sop), pixel=pixel)
    stored_syntax = ds.file_meta.get("TransferSyntaxUID")
    extra: dict[str, Any] = {"AvailableTransferSyntaxUID": stored_syntax}
    colour = str(ds.get("PhotometricInterpretation", ""))
    if stored_syntax and UID(stored_syntax).is_encapsulated and colour.startswith("YBR"):
        # Compressed colour frames are decoded to interleaved RGB, and a viewer reads the
        # frames by these attributes: YBR here would have it convert the colours again.
        extra |= {"PhotometricInterpretation": "RGB", "PlanarConfiguration": 0}
    return dict(sorted({**found, **dicomjson.attributes(extra)}.items()))


def _layout(platform: Platform, item: Instance, numbers: Sequence[int]) -> PixelLayout:
    """Where the instance's pixel data is, once ``numbers`` (from 1) are known to be its frames."""
    layout = _pixel_layout(platform, item)
    if layout is None:
        raise NotFound(f"instance {item.sop} has no pixel data")
    beyond = [n for n in numbers if n > layout.frames]
    if beyond:
        raise NotFound(f"instance {item.sop} has {layout.frames} frame(s): there is no frame {beyond[0]}")
    return layout


def _pixel_layout(platform: Platform, item: Instance) -> PixelLayout | None:
    return _LAYOUTS.get(item.blob) or _header(platform, item)[1]


def frames(platform: Platform, item: Instance, numbers: Sequence[int]) -> list[bytes]:
    """Frames (numbered from 1) as native little-endian bytes; in-place frames by ranged reads."""
    layout = _layout(platform, item, numbers)
    spans = [span for n in numbers if (span := layout.frame_range(n - 1)) is not None]
    if len(spans) == len(numbers):
        key = blob_key(BlobId(item.blob))
        return [b"".join(platform.store.get(key, start, end)) for start, end in spans]
    with _open(platform, item) as stream:
        return decode_frames(stream, item.path, [n - 1 for n in numbers])


def bitstreams(platform: Platform, item: Instance, numbers: Sequence[int]) -> list[bytes]:
    """Frames (numbered from 1) of compressed pixel data as stored: their bitstreams."""
    _layout(platform, item, numbers)
    with _open(platform, item) as stream:
        return compressed_frames(stream, item.path, [n - 1 for n in numbers])


def bulkdata(platform: Platform, item: Instance, path: str) -> list[Iterable[bytes]]:
    """What a metadata BulkDataURI names, as parts of chunks: the one value, but compressed
    pixel data frame by frame (PS3.18 8.7.3.3); native pixel data streamed where in place."""
    path = path.upper().strip("/")
    layout = _LAYOUTS.get(item.blob)
    if layout is None or path != f"{layout.tag:08X}":
        ds, layout = _header(platform, item)
        if layout is None or path != f"{layout.tag:08X}":
            return [[dicomjson.bulk_value(ds, path)]]
    if layout.encapsulated:
        return [[frame] for frame in frames(platform, item, range(1, layout.frames + 1))]
    span = layout.value_range()
    if span is not None:
        return [platform.store.get(blob_key(BlobId(item.blob)), *span)]
    with _open(platform, item) as stream:
        return [[native_pixel_value(stream, item.path)]]


def rendered(platform: Platform, item: Instance, frame: int, rendering: Rendering) -> bytes:
    """Frame ``frame`` (from 1) as a PNG or JPEG."""
    _layout(platform, item, [frame])
    with _open(platform, item) as stream:
        return render(stream, item.path, frame - 1, rendering)


THUMBNAIL = 256  # the side of the square a thumbnail fits in, as the portal's do


def thumbnail(
    platform: Platform, item: Instance, image_format: ImageFormat, frame: int | None = None
) -> bytes:
    """A small rendering of frame ``frame`` (from 1), else of the middle one, as the portal's
    thumbnails show an instance."""
    middle = _layout(platform, item, [frame] if frame else []).frames // 2 + 1
    fitted = Rendering(viewport=(THUMBNAIL, THUMBNAIL), format=image_format)
    return rendered(platform, item, frame or middle, fitted)


def require_branch(repo: Repository, ref: str) -> None:
    """STOW-RS adds a commit, which only a branch can take."""
    if repo.stores.refs.get(ref, RefKind.BRANCH) is not None:
        return
    if repo.stores.refs.get(ref, RefKind.TAG) is not None:
        raise InvalidInput(f"{ref!r} is a tag, which never moves: store instances into a branch")
    raise NotFound(f"no branch {ref!r}: STOW-RS stores instances into a branch")


def store(
    platform: Platform,
    dataset_id: int,
    branch: str,
    author: str,
    parts: Sequence[stow.Part],
    study: str | None,
) -> StowOutcome:
    """Every acceptable part as one new commit on ``branch``, indexed before this returns so that
    a search right after finds it. An instance already there with the same bytes counts as
    stored; with other bytes it fails (a correction is a new SOP Instance UID)."""
    verdicts = [stow.check(part, f"part {number}", study) for number, part in enumerate(parts, 1)]
    stored: list[stow.Accepted] = []
    failed = [v for v in verdicts if isinstance(v, stow.Rejected)]
    with platform.sessions() as session:
        dataset = session.get_one(Dataset, dataset_id)
        name, head_id = dataset.full_name, datasets.repository(session, dataset).resolve(branch).id
    sops = [v.sop for v in verdicts if isinstance(v, stow.Accepted)]
    held = _blobs_of_sops(platform, version(platform, dataset_id, name, head_id), sops)  # at any path
    rejected = list(failed)
    with platform.sessions.begin() as session:
        dataset = session.get_one(Dataset, dataset_id)
        repo = datasets.repository(session, dataset)
        accepted = [v for v in verdicts if isinstance(v, stow.Accepted)]
        uploaded = blobs.upload_many(
            session,
            platform,
            [p.body for p, v in zip(parts, verdicts, strict=True) if isinstance(v, stow.Accepted)],
        )

        def plan(head: Commit) -> tuple[ChangeSet, str] | None:
            """Against the head the commit will land on: a racing STOW of the same instance
            with other bytes is refused, never overwritten. A part counts as held once an
            earlier part of this request was taken for its SOP Instance UID, whatever its path."""
            changes = ChangeSet()
            stored.clear()
            failed[:] = rejected
            taken: dict[str, str] = {}  # SOP Instance UID -> blob, of this request's parts so far
            for verdict, (blob, size) in zip(accepted, uploaded, strict=True):
                present = repo.tree.get(head.tree, verdict.path)
                known = {present.blob} if present is not None else set(held.get(verdict.sop, ()))
                if verdict.sop in taken:
                    known.add(taken[verdict.sop])
                if known and blob not in known:
                    detail = "stored already with other content: a correction needs a new UID"
                    failed.append(stow.Rejected(verdict.sop_class, verdict.sop, stow.DUPLICATE, detail))
                    continue
                if not known:
                    changes.put(Entry(verdict.path, blob, size, stow.DICOM))
                taken[verdict.sop] = blob
                stored.append(verdict)
            return (changes, f"STOW-RS: {len(changes.puts)} instances") if changes else None

        commit = repo.commit_planned(branch, plan, author=author)
    if commit is not None:
        version(platform, dataset_id, name, commit.id)
    return StowOutcome(stored, failed, commit.id if commit else None)
