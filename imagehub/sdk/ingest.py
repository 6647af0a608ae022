"""Bulk import of a local folder into a dataset branch as one commit."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from imagehub.core.errors import InvalidInput
from imagehub.core.media import media_type_of
from imagehub.sdk.client import UPLOAD_CHUNK, Client, Progress, RemoteDataset, RemoteEntry
from imagehub.sdk.http import RemoteError, RemoteInvalid, RemoteNotFound
from imagehub.sdk.objects import sha256_file
from imagehub.sdk.parallel import transfer_pool


@dataclass(frozen=True)
class IngestResult:
    commit: str
    files: int
    uploaded_bytes: int
    unchanged: bool = False  # the branch already held exactly these files: no new commit


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
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder)))
    if not files:
        raise InvalidInput(f"{folder} holds no files to ingest (hidden files and folders are left out)")
    remote, undo = _target(client, dataset, branch)
    try:
        _refused_now(remote, branch)
    except RemoteError:
        _take_back(undo)
        raise
    with transfer_pool(workers) as pool:
        blobs = list(pool.map(sha256_file, files))
    sizes = {blob: path.stat().st_size for blob, path in zip(blobs, files, strict=True)}
    missing = remote.missing(sorted(set(blobs)))
    on_total(sum(sizes[b] for b in missing))
    by_blob = dict(zip(blobs, files, strict=True))
    small = [(by_blob[b], b) for b in sorted(missing) if sizes[b] <= UPLOAD_CHUNK]
    remote.upload_small(small, workers=workers, progress=progress)
    with transfer_pool(workers) as pool:
        list(
            pool.map(
                lambda b: remote.upload(by_blob[b], b, progress),
                sorted(b for b in missing if sizes[b] > UPLOAD_CHUNK),
            )
        )
    puts = [
        RemoteEntry(p.relative_to(folder).as_posix(), b, sizes[b], media_type_of(p.name))
        for p, b in zip(files, blobs, strict=True)
    ]
    sent = sum(sizes[b] for b in missing)
    try:
        made = remote.commit(
            branch, message=message or f"Ingest {len(files)} files from {folder.name}", puts=puts
        )
    except RemoteInvalid as exc:
        if "nothing to commit" not in str(exc):
            raise
        head = (remote.branch(branch) or {}).get("commit_id", "")
        return IngestResult(head, len(files), sent, unchanged=True)
    return IngestResult(made["id"], len(files), sent)


def _target(client: Client, dataset: str, branch: str) -> tuple[RemoteDataset, Callable[[], None] | None]:
    """The dataset and branch to ingest into, made when missing, and how to take back what
    was made (None: nothing was). The server judges a commit only on a branch that exists,
    so a refused ingest removes the dataset or branch it made rather than leave them behind."""
    made: Callable[[], None] | None = None
    try:
        remote = client.dataset(dataset)
        info = remote.info()
    except RemoteNotFound:
        remote = client.create_dataset(dataset)
        info, made = remote.info(), remote.delete
    if remote.branch(branch) is None:
        try:  # refused up front where the caller may not open it (a PHI branch without a purpose)
            remote.create_branch(branch, info["default_branch"])
        except RemoteError:
            _take_back(made)
            raise
        made = made or partial(remote.delete_branch, branch)
    return remote, made


def _take_back(undo: Callable[[], None] | None) -> None:
    """Remove what a refused ingest made."""
    with suppress(RemoteError):  # a token that may create but not delete leaves what it made
        if undo is not None:
            undo()


def _refused_now(remote: RemoteDataset, branch: str) -> None:
    """Ask for an empty commit, which the server judges like the real one (access, purpose,
    protection) before finding it empty: a refusal comes before any file is read or sent."""
    try:
        remote.commit(branch, message="ingest: may this commit?")
    except RemoteInvalid as exc:
        if "nothing to commit" not in str(exc):
            raise


def _hidden(relative: Path) -> bool:
    """A dotfile, or anything inside a dot-folder (``.git/``, ``.DS_Store``, editor state)."""
    return any(part.startswith(".") for part in relative.parts)
