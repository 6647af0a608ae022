"""Bulk import of a local folder into a dataset branch as one commit."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from imagehub.sdk.client import UPLOAD_CHUNK, Client, Progress, RemoteEntry
from imagehub.sdk.http import RemoteNotFound
from imagehub.sdk.objects import sha256_file

MEDIA_TYPES = {".dcm": "application/dicom", ".nii": "application/x-nifti", ".gz": "application/gzip"}


@dataclass(frozen=True)
class IngestResult:
    commit: str
    files: int
    uploaded_bytes: int


def _noop(_: int) -> None:
    return None


def ingest_folder(
    client: Client,
    folder: Path,
    dataset: str,
    branch: str,
    message: str = "",
    *,
    workers: int = 4,
    progress: Progress = _noop,
    on_total: Callable[[int], None] = _noop,
) -> IngestResult:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        blobs = list(pool.map(sha256_file, files))
    try:
        remote = client.dataset(dataset)
        info = remote.info()
    except RemoteNotFound:
        remote = client.create_dataset(dataset)
        info = remote.info()
    if branch not in {b["name"] for b in remote.branches()}:
        remote.create_branch(branch, info["default_branch"])
    sizes = {blob: path.stat().st_size for blob, path in zip(blobs, files, strict=True)}
    missing = remote.missing(sorted(set(blobs)))
    on_total(sum(sizes[b] for b in missing))
    by_blob = dict(zip(blobs, files, strict=True))
    small = [(by_blob[b], b) for b in sorted(missing) if sizes[b] <= UPLOAD_CHUNK]
    remote.upload_small(small, workers=workers, progress=progress)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(
            pool.map(
                lambda b: remote.upload(by_blob[b], b, progress),
                sorted(b for b in missing if sizes[b] > UPLOAD_CHUNK),
            )
        )
    puts = [
        RemoteEntry(p.relative_to(folder).as_posix(), b, sizes[b], _media_type(p))
        for p, b in zip(files, blobs, strict=True)
    ]
    made = remote.commit(
        branch, message=message or f"Ingest {len(files)} files from {folder.name}", puts=puts
    )
    return IngestResult(made["id"], len(files), sum(sizes[b] for b in missing))


def _media_type(path: Path) -> str:
    return MEDIA_TYPES.get(os.path.splitext(path.name)[1].lower(), "application/octet-stream")
