"""Local-disk driver: the embedded default.

Writes go to a temporary file on the same filesystem, are fsynced and then renamed
over the key, so a crash leaves either the old object or the new one, never a torn one.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

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


class FileStore:
    """Objects as files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = self.root.as_uri()
        try:
            (self.root / _TMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create storage directory {self.root}: {exc.strerror}") from exc

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put(self, key: str, source: Source) -> ObjectInfo:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root / _TMP_DIR, prefix=uuid.uuid4().hex)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in iter_source(source):
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return self.stat(key)

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r}") from None
        return _read_range(handle, start, end)

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r}") from None
        return ObjectInfo(key=key, size=st.st_size, modified=datetime.fromtimestamp(st.st_mtime, UTC))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
