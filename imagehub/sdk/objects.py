"""The local object cache shared by every working copy and pull on this machine.

Objects live once under ``<cache>/objects/<aa>/<sha256>`` and are read-only. A
working copy gets a reflink when the filesystem can clone, else a hard link to the
read-only cache file (an edit in place then fails instead of corrupting the cache), else
a copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO

from imagehub.core.fileio import write_fully

FICLONE = 0x40049409  # ioctl that makes a copy-on-write clone (btrfs, xfs, ...)
CHUNK = 1024 * 1024
READ_WHOLE = 1024 * 1024  # files up to this size are added to the cache from memory
# One level of 256 folders, all made with the cache. Until this layout, objects sat two
# levels down (<aa>/<bb>/), and a cache of 100k objects meant ~50k folders made on the
# way: most of the time of adding or pulling many small files.
LAYOUT_MARK = ".layout-flat256"
TEMP_PREFIX = ".tmp-"


def default_cache_dir() -> Path:
    if explicit := os.environ.get("IMAGEHUB_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imagehub"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ObjectCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_cache_dir()).resolve()
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        if not (self.root / "objects" / LAYOUT_MARK).exists():
            self._lay_out()
        self._refused: dict[int, set[str]] = {}  # filesystem (st_dev) -> ways that failed there

    def _lay_out(self) -> None:
        """Make the 256 object folders, moving up any object of the older two-level layout.
        Safe to run from two processes at once: every step is a mkdir or a rename."""
        objects = self.root / "objects"
        for prefix in range(256):
            (objects / f"{prefix:02x}").mkdir(parents=True, exist_ok=True)
        for old in objects.glob("??/??"):
            for item in old.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    os.replace(item, old.parent / item.name)
            with contextlib.suppress(OSError):
                old.rmdir()
        (objects / LAYOUT_MARK).touch()

    def path(self, blob: str) -> Path:
        return self.root / "objects" / blob[:2] / blob

    def has(self, blob: str) -> bool:
        return self.path(blob).is_file()

    def temp_file(self) -> Path:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        os.close(fd)
        return Path(name)

    def adopt(self, temp: Path, blob: str) -> Path:
        """Move a finished, verified temporary file into the cache under its hash."""
        os.chmod(temp, 0o444)
        return self._place(temp, blob)

    def add_bytes(self, content: bytes, blob: str) -> Path:
        """Put verified bytes into the cache: one file created, written and renamed.

        The temporary file is made in the object's own folder: a rename between folders
        takes a filesystem-wide lock on Linux, and through one shared folder it made
        adding many small files about three times slower. A crash can leave a ``.tmp-``
        file there, which no lookup ever takes for an object."""
        temp = self.path(blob).with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)  # read-only from birth
        except FileNotFoundError:  # someone removed the folder: make it again
            temp.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            try:
                write_fully(fd, content)
            finally:
                os.close(fd)
            return self._place(temp, blob)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def take(self, source: Path) -> tuple[str, int]:
        """Hash a working file and keep its bytes in the cache, from one read of it:
        (blob, size). What is cached is exactly what was hashed, however the file changes
        meanwhile; an object already cached is not written again."""
        with source.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size <= READ_WHOLE:
                content = handle.read()
                blob = hashlib.sha256(content).hexdigest()
                if not self.has(blob):
                    self.add_bytes(content, blob)
                return blob, len(content)
            return self._take_stream(handle)

    def _take_stream(self, handle: BinaryIO) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        temp = self.temp_file()
        try:
            with temp.open("wb") as out:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            blob = digest.hexdigest()
            if not self.has(blob):
                self.adopt(temp, blob)
            return blob, size
        finally:
            temp.unlink(missing_ok=True)

    def _place(self, temp: Path, blob: str) -> Path:
        """Rename into place (the folder is made again should someone have removed it)."""
        target = self.path(blob)
        try:
            os.replace(temp, target)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        return target

    def materialise(self, blob: str, dest: Path) -> str:
        """Place object ``blob`` at ``dest``; returns how: reflink, hardlink or copy.

        A way that failed once on the destination's filesystem is not tried again there:
        a failed reflink costs a file created and removed, per file of a pull."""
        source = self.path(blob)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.imagehub-tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        refused = self._refused.setdefault(os.stat(dest.parent).st_dev, set())
        if os.geteuid() == 0:  # read-only protects a hard-linked cache file from edits, except from root
            refused.add("hardlink")
        how = "copy"
        for way, attempt in (("reflink", _reflink), ("hardlink", _hardlink)):
            if way not in refused:
                if attempt(source, tmp):
                    how = way
                    break
                refused.add(way)
        else:
            _copy(source, tmp)
        os.replace(tmp, dest)
        return how


def _reflink(source: Path, dest: Path) -> bool:
    try:
        with source.open("rb") as src, dest.open("wb") as dst:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        return False
    os.chmod(dest, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    return True


def _hardlink(source: Path, dest: Path) -> bool:
    try:
        os.link(source, dest)
    except OSError:
        return False
    return True


def _copy(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)
    os.chmod(dest, 0o644)
