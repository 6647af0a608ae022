"""Local-disk driver: the embedded default.

Writes go to a temporary file on the same filesystem, are fsynced and then renamed
over the key, so a crash leaves either the old object or the new one, never a torn one.
A batch keeps that guarantee with two filesystem syncs instead of two per object: every
temporary file reaches the disk before any is renamed, and the renames reach it before
the batch returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from imagehub.core.fileio import write_fully
from imagehub.core.storage import direct
from imagehub.core.storage.base import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    Source,
    StorageError,
    iter_source,
    validate_key,
    validate_prefix,
)

_TMP_DIR = ".tmp"
_STALE_TEMP_SECONDS = 7 * 24 * 3600  # a temporary file this old belongs to a writer that died


class FileStore:
    """Objects as files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = self.root.as_uri()
        self._folders: set[Path] = set()  # made or seen by this process
        try:
            (self.root / _TMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create storage directory {self.root}: {exc.strerror}") from exc
        self.sweep_unfinished()

    def sweep_unfinished(self, under: Sequence[str] = ("",)) -> int:
        """Remove what killed writers left behind (a killed import leaves every file of its
        batch). Unfinished files wait in the store's own folder, whatever key they were for."""
        cutoff, swept = time.time() - _STALE_TEMP_SECONDS, 0
        with os.scandir(self.root / _TMP_DIR) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        swept += 1
        return swept

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put(self, key: str, source: Source) -> ObjectInfo:
        target = self._path(key)
        temp = self._write_temp(source, sync=True)
        try:
            _rename_into(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return self.stat(key)

    @contextmanager
    def batch(self) -> Iterator[FileBatch]:
        batch = FileBatch(self)
        try:
            yield batch
        except BaseException:
            batch.discard()
            raise
        batch.publish()

    def _write_temp(self, source: Source, *, sync: bool) -> Path:
        """``source`` in a new file beside the objects (same filesystem, so renames are atomic).

        Plain descriptor calls, no file object: for the many small blobs of a pushed
        bundle, creating the file is the cost, and Python's wrappers around it added half."""
        temp = self.root / _TMP_DIR / uuid.uuid4().hex
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                if isinstance(source, bytes) and direct.suits(source):
                    direct.write(fd, source)
                else:
                    for chunk in iter_source(source):
                        write_fully(fd, chunk)
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def make_folder(self, folder: Path) -> None:
        """Make a folder for objects, once per process: folders are never removed, and a
        rename that finds one gone makes it again (``_rename_into``)."""
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r}") from None
        return _read_range(handle, start, end)

    def open(self, key: str, size: int) -> BinaryIO:
        """The file itself: parsers read its head without the ranged reads remote stores need."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r}") from None

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r}") from None
        return ObjectInfo(key=key, size=st.st_size, modified=datetime.fromtimestamp(st.st_mtime, UTC))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def sizes(self, keys: Iterable[str]) -> dict[str, int] | None:
        found: dict[str, int] = {}
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                found[key] = self._path(key).stat().st_size
        return found

    def refresh(self, key: str) -> ObjectInfo | None:
        try:
            os.utime(self._path(key))
        except FileNotFoundError:
            return None
        return self.stat(key)

    def move(self, source: str, key: str) -> ObjectInfo:
        """A rename within the store's filesystem: ``source`` was made durable when it was put."""
        target = self._path(key)
        try:
            _rename_into(self._path(source), target)
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {source!r}") from None
        _fsync_dir(target.parent)
        return self.stat(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        yield from self._walk("", prefix)

    def _walk(self, rel_dir: str, prefix: str) -> Iterator[ObjectInfo]:
        """Depth-first walk in true key order, pruning directories outside ``prefix``."""
        try:
            entries = list(os.scandir(self.root / rel_dir if rel_dir else self.root))
        except FileNotFoundError:
            return
        keyed = []
        for entry in entries:
            if not rel_dir and entry.name == _TMP_DIR:
                continue
            key = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            keyed.append((key + "/" if is_dir else key, is_dir, entry))
        keyed.sort(key=lambda item: item[0])
        for sort_key, is_dir, entry in keyed:
            if is_dir:
                if sort_key.startswith(prefix) or prefix.startswith(sort_key):
                    yield from self._walk(sort_key[:-1], prefix)
            elif sort_key.startswith(prefix):
                st = entry.stat()
                yield ObjectInfo(sort_key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def presign(self, key: str, expires_in: int = 3600) -> str:
        """A ``file://`` URL: only meaningful to clients on this machine."""
        self.stat(key)
        return self._path(key).as_uri()

    def presign_upload(self, key: str, expires_in: int = 3600) -> str | None:
        validate_key(key)
        return None  # remote clients cannot write to this disk: uploads go through the server


class FileBatch:
    """Objects written unsynced to temporary files, published together by ``publish``."""

    def __init__(self, store: FileStore) -> None:
        self._store = store
        self._staged: list[tuple[Path, Path]] = []
        self._lock = threading.Lock()

    def put(self, key: str, source: Source) -> None:
        target = self._store._path(key)
        # Folders are made here, on the writers' threads, rather than one by one at publish:
        # a fresh store makes one per blob for its first thousands of blobs.
        self._store.make_folder(target.parent)
        temp = self._store._write_temp(source, sync=False)
        with self._lock:
            self._staged.append((temp, target))

    def publish(self) -> None:
        """Sync the data, rename every file over its key, then sync the names. The last sync
        runs even for a batch that wrote nothing: what it found already stored may have been
        renamed by a concurrent batch whose own last sync has not run yet."""
        try:
            if self._staged:
                _sync_filesystem(self._store.root)
            for temp, target in self._staged:
                _rename_into(temp, target)
        except BaseException:
            self.discard()
            raise
        self._staged.clear()
        _sync_filesystem(self._store.root)

    def discard(self) -> None:
        for temp, _ in self._staged:
            temp.unlink(missing_ok=True)
        self._staged.clear()


def _read_range(handle: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        remaining = None if end is None else max(end - start, 0)
        while remaining is None or remaining > 0:
            want = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
            chunk = handle.read(want)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _rename_into(temp: Path, target: Path) -> None:
    """Rename over ``target``; its folder is made only when missing (rarely, once warm)."""
    try:
        os.replace(temp, target)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_LIBC = ctypes.CDLL(None, use_errno=True)


def _sync_filesystem(path: Path) -> None:
    """Flush the dirty pages and metadata of the filesystem holding ``path``: one journal
    commit for a whole batch (Linux ``syncfs``; elsewhere a global ``sync``)."""
    syncfs = getattr(_LIBC, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            raise StorageError(f"cannot sync {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
