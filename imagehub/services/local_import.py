"""Import a folder on the server's own disk as one commit: samples, benchmarks, bulk loads.

Clients push through the API instead; this path skips HTTP for data that already sits
beside the server. Hashing and storing run on a few threads (hashlib and file I/O
release the GIL); the commit itself is one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from imagehub.core.errors import InvalidInput
from imagehub.core.media import media_type_of
from imagehub.core.vcs import BlobBatch, BlobId, BlobStore, ChangeSet, Commit, Entry, RefKind
from imagehub.models import dataset as dataset_queries
from imagehub.models.vcs import SqlBlobIndex
from imagehub.services import audit, datasets
from imagehub.services.platform import Platform

WORKERS = min(8, (os.cpu_count() or 2) * 2)
READ_WHOLE = 16 * 1024 * 1024


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _store(store: BlobBatch, path: Path) -> tuple[BlobId, int]:
    """Files of ordinary size are read whole: hashed and written from one buffer, with no
    spooling copy between (a bulk load is mostly files of a few hundred kilobytes)."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size <= READ_WHOLE:
            return store.put_stream(handle.read())
        return store.put_stream(handle)


def import_folder(
    platform: Platform,
    folder: Path,
    *,
    dataset: str,
    branch: str,
    author: str,
    message: str,
    progress: Callable[[int], None] = lambda _: None,
) -> Commit:
    """Store every file under ``folder`` and commit them to ``dataset``'s ``branch``.

    The dataset and the branch are created when missing; paths are relative to the folder.
    """
    files = _files(folder)
    if not files:
        raise InvalidInput(f"{folder} holds no files to import")
    owner, _, name = dataset.partition("/")
    stored = []
    with BlobStore(platform.store).batch() as batch, ThreadPoolExecutor(WORKERS) as pool:
        for blob, size in pool.map(lambda p: _store(batch, p), files):
            stored.append((blob, size))
            progress(size)
    changes = ChangeSet()
    for path, (blob, size) in zip(files, stored, strict=True):
        changes.put(
            Entry(
                path.relative_to(folder).as_posix(),
                blob,
                size,
                media_type_of(path.name),
            )
        )
    with platform.sessions.begin() as session:
        SqlBlobIndex(session).register(stored)
        found = dataset_queries.get_live(session, owner=owner, name=name)
        if found is None:
            found = datasets.create(session, owner=owner, name=name, author=author)
            audit.record(session, actor=author, action="dataset.create", dataset=found.full_name)
        repo = datasets.repository(session, found)
        if repo.stores.refs.get(branch, RefKind.BRANCH) is None:
            repo.create_branch(branch, found.default_branch)
        return repo.commit(branch, changes, author=author, message=message)
