"""Per-file and per-series work that runs on executor workers (in-process or on Ray).

Everything here is module-level and takes plain, picklable arguments, because Ray ships
it to other processes; a worker opens the object store once from the settings. Derived
artefacts are stored content-addressed under ``derived/``, outside the blob namespace
that garbage collection sweeps.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from imagehub.core.config import Settings
from imagehub.core.errors import ImageHubError
from imagehub.core.imaging import (
    InstanceMetadata,
    Unreadable,
    inspect,
    instance_thumbnail,
    series_thumbnail,
    series_to_nifti,
)
from imagehub.core.storage import ObjectStore, StorageError, worker_store
from imagehub.core.vcs import BlobId, blob_key

# 2: study-level attributes (DICOMweb); 3: implicit VR values typed as explicit;
# 4: BitsAllocated, and no frame count for objects without pixel data
EXTRACTOR_VERSION = "4"
# The reason that rows of earlier versions gave a blob the store failed to return: a fault
# of the storage, not of the file, so such rows are extracted again (see imaging._known_blobs).
STORAGE_FAILURE = "cannot read stored blob:"


@dataclass(frozen=True)
class FileTask:
    blob: str
    size: int
    path: str  # one path naming the blob: a hint for the format (.nii.gz)


@dataclass(frozen=True)
class Extracted:
    blob: str
    kind: str  # dicom | nifti | unreadable
    reason: str
    metadata: dict[str, Any] | None


@dataclass(frozen=True)
class SeriesTask:
    series_key: str
    kind: str  # dicom | nifti
    blobs: tuple[str, ...]  # members in geometric order
    name: str  # the first member's path


@dataclass(frozen=True)
class Derived:
    series_key: str
    key: str | None
    error: str


def _read(store: ObjectStore, blob: str) -> bytes:
    return b"".join(store.get(blob_key(BlobId(blob))))


def _inspect_blob(store: ObjectStore, task: FileTask) -> InstanceMetadata | Unreadable:
    with store.open(blob_key(BlobId(task.blob)), task.size) as stream:
        return inspect(stream, task.path)


def _storage_failed(blob: str, error: StorageError) -> StorageError:
    """The step's error when the store cannot return a blob (outage, or the object gone):
    a fault of the site, never a finding about the file, so it fails the step rather than
    being recorded as the file's result, which every later run would reuse."""
    return StorageError(f"{STORAGE_FAILURE} {blob[:12]}: {error}")


def extract_metadata(settings: Settings, tasks: Sequence[FileTask]) -> list[Extracted]:
    """Header metadata of each blob; a file that is not imaging is a result, not an error."""
    store = worker_store(settings)
    results = []
    for task in tasks:
        try:
            found = _inspect_blob(store, task)
        except StorageError as exc:
            raise _storage_failed(task.blob, exc) from exc
        if isinstance(found, Unreadable):
            results.append(Extracted(task.blob, "unreadable", found.reason, None))
        else:
            results.append(Extracted(task.blob, found.kind, "", found.to_dict()))
    return results


def _put_derived(store: ObjectStore, kind: str, suffix: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    key = f"derived/{kind}/{digest[:2]}/{digest}{suffix}"
    if store.refresh(key) is None:  # refreshed, gc leaves one a series row is about to name
        store.put(key, data)
    return key


def _thumbnail(store: ObjectStore, task: SeriesTask) -> bytes:
    if task.kind == "nifti":
        with tempfile.TemporaryFile() as spool:
            for chunk in store.get(blob_key(BlobId(task.blobs[0]))):
                spool.write(chunk)
            spool.seek(0)
            return instance_thumbnail(spool, task.name)
    middle = task.blobs[len(task.blobs) // 2]
    return series_thumbnail([io.BytesIO(_read(store, middle))])


def render_thumbnails(settings: Settings, tasks: Sequence[SeriesTask]) -> list[Derived]:
    """One PNG per series (its middle slice) or NIfTI volume; failures are reported per series."""
    store = worker_store(settings)
    results = []
    for task in tasks:
        try:
            results.append(
                Derived(
                    task.series_key, _put_derived(store, "thumbnails", ".png", _thumbnail(store, task)), ""
                )
            )
        except StorageError:
            raise  # an outage is the step's failure, not the series'
        except ImageHubError as exc:
            results.append(Derived(task.series_key, None, str(exc)))
        except Exception as exc:  # one odd series must not stop the commit's other series
            results.append(Derived(task.series_key, None, f"could not render: {type(exc).__name__}"))
    return results


def _series_nifti(store: ObjectStore, blobs: Sequence[str]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="imagehub-series-") as folder:
        paths: list[Path] = []
        for number, blob in enumerate(blobs):
            path = Path(folder) / f"{number:06d}.dcm"
            with path.open("wb") as handle:
                for chunk in store.get(blob_key(BlobId(blob))):
                    handle.write(chunk)
            paths.append(path)
        sources: list[BinaryIO | Path] = list(paths)
        return series_to_nifti(sources)


def convert_to_nifti(settings: Settings, tasks: Sequence[SeriesTask]) -> list[Derived]:
    """A NIfTI volume per DICOM series for training; NIfTI inputs are used as they are."""
    store = worker_store(settings)
    results = []
    for task in tasks:
        if task.kind == "nifti":
            results.append(Derived(task.series_key, blob_key(BlobId(task.blobs[0])), ""))
            continue
        try:
            results.append(
                Derived(
                    task.series_key,
                    _put_derived(store, "nifti", ".nii.gz", _series_nifti(store, task.blobs)),
                    "",
                )
            )
        except StorageError:
            raise  # an outage is the step's failure, not the series'
        except ImageHubError as exc:
            results.append(Derived(task.series_key, None, str(exc)))
        except Exception as exc:  # one odd series must not stop the commit's other series
            results.append(Derived(task.series_key, None, f"could not convert: {type(exc).__name__}"))
    return results
