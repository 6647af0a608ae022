"""The local object cache shared by every working copy and pull on this machine.

Objects live once under ``<cache>/objects/<aa>/<sha256>`` and are read-only. A
working copy gets a reflink when the filesystem can clone, else a hard link to the
read-only cache file (at one path of the copy at most), else a copy. An editor may still
make a linked file writable and write in place: the object's sealed time then moves, and
the cache drops it rather than hand the edit on.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from imagehub.core.errors import InvalidInput
from imagehub.core.fileio import write_fully
from imagehub.sdk.parallel import check_stop, transfer_pool

FICLONE = 0x40049409  # ioctl that makes a copy-on-write clone (btrfs, xfs, ...)
CHUNK = 1024 * 1024
READ_WHOLE = 1024 * 1024  # files up to this size are added to the cache from memory
# One level of 256 folders, all made with the cache. Until this layout, objects sat two
# levels down (<aa>/<bb>/), and a cache of 100k objects meant ~50k folders made on the
# way: most of the time of adding or pulling many small files.
LAYOUT_MARK = ".layout-flat256"
TEMP_PREFIX = ".tmp-"
PARTIAL_SUFFIX = ".part"  # a download cut short, resumed by the next pull
# What crashed or interrupted writers leave behind is swept at most once a day (a sweep
# lists every object folder). Leftover temporary files go after a day untouched;
# partial downloads are kept a week for a pull to resume.
SWEEP_MARK = ".last-sweep"
SWEEP_EVERY_S = 24 * 3600
STALE_TEMP_S = 24 * 3600
STALE_PARTIAL_S = 7 * 24 * 3600
# Every cached object carries this modification time. A hard-linked working file shares
# its object's inode, and a read-only mode does not stop every editor (vim's :w! makes the
# file writable and writes in place); any write moves the time, so an object without it
# is hashed again before it is used, and dropped unless it still matches its id.
SEALED_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z
BLOB_ID = re.compile("[0-9a-f]{64}")  # an id from a server is checked before it names a file
PLACING = re.compile(r"\.[0-9a-f]{16}\.imagehub-tmp")  # a file on its way into a working copy


def default_cache_dir() -> Path:
    if explicit := os.environ.get("IMAGEHUB_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imagehub"


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_handle(handle)


def sha256_handle(handle: BinaryIO) -> str:
    """SHA-256 of the rest of an open file."""
    return _hash_stream(handle, None)[0]


class ObjectCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_cache_dir()).resolve()
        try:
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(
                f"cannot use {self.root} as the object cache ({exc.strerror}): set IMAGEHUB_CACHE_DIR"
                " to a folder you may write"
            ) from None
        if not (self.root / "objects" / LAYOUT_MARK).exists():
            self._lay_out()
        self._refused: dict[int, set[str]] = {}  # filesystem (st_dev) -> ways that failed there
        self._sweep_if_due()

    def _sweep_if_due(self) -> None:
        mark = self.root / SWEEP_MARK
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            if now - mark.stat().st_mtime < SWEEP_EVERY_S:
                return
        try:
            mark.touch()  # first, so that processes opening the cache together sweep once
        except OSError:  # not ours to write
            return
        self.sweep_leftovers(now)

    def sweep_leftovers(self, now: float) -> int:
        """Remove stale temporary files and partial downloads; return how many went.

        A file some process still holds (a lock while it writes) is kept, however old its
        last write: that process may have been stopped for days."""
        leftovers: list[tuple[str, int]] = []
        folders = [self.root / "objects" / f"{prefix:02x}" for prefix in range(256)]
        for folder in [*folders, self.root / "tmp"]:
            with contextlib.suppress(OSError), os.scandir(folder) as entries:  # gone, or not ours
                for entry in entries:
                    if entry.name.startswith(TEMP_PREFIX) or folder.name == "tmp":
                        keep_s = STALE_PARTIAL_S if entry.name.endswith(PARTIAL_SUFFIX) else STALE_TEMP_S
                        leftovers.append((entry.path, keep_s))
        return sum(_remove_if_abandoned(path, keep_s, now) for path, keep_s in leftovers)

    @contextlib.contextmanager
    def partial(self, blob: str) -> Iterator[tuple[Path, BinaryIO]]:
        """The partial download of ``blob``, made if need be, open to read and write.

        Held exclusively: processes pulling the same blob into a shared cache take turns
        (a later one finds the object cached, or resumes what the earlier one left), and
        no sweep removes the file under a download that resumes it."""
        path = self.root / "tmp" / f"{self._home(blob).name}{PARTIAL_SUFFIX}"
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:  # someone removed the folder: make it again
                path.parent.mkdir(parents=True, exist_ok=True)
                continue
            fcntl.flock(fd, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            # While we waited, the file was moved into the cache or swept: the path names
            # another file or none, and writing to ours could reach a cached object.
            os.close(fd)
        with os.fdopen(fd, "r+b") as handle:
            yield path, handle

    def _lay_out(self) -> None:
        """Make the 256 object folders and move up any object of the older two-level layout.

        Best effort: another process may be moving the same objects (each step is a mkdir
        or a rename, and whatever vanished was moved), and a cache we may not write to is
        left as it is; ``path`` finds objects still in the older place either way."""
        objects = self.root / "objects"
        try:
            for prefix in range(256):
                (objects / f"{prefix:02x}").mkdir(parents=True, exist_ok=True)
            for old in objects.glob("??/??"):
                with contextlib.suppress(FileNotFoundError):
                    for item in old.iterdir():
                        with contextlib.suppress(FileNotFoundError):
                            os.replace(item, old.parent / item.name)
                with contextlib.suppress(OSError):
                    old.rmdir()
            (objects / LAYOUT_MARK).touch()
        except OSError:  # not ours to write (a read-only or shared cache): use it as it is
            return

    def path(self, blob: str) -> Path:
        """Where object ``blob`` is: its place, or its place in the older layout when only
        that holds it (a cache shared with an older client, or one we may not write to)."""
        home = self._home(blob)
        if not home.exists() and _older(home).exists():
            return _older(home)
        return home

    def _home(self, blob: str) -> Path:
        if not BLOB_ID.fullmatch(blob):
            raise InvalidInput(f"not a SHA-256 object id: {blob[:80]!r}")
        return self.root / "objects" / blob[:2] / blob

    def has(self, blob: str, size: int | None = None) -> bool:
        """Whether the cache holds ``blob``; given its ``size``, a shorter or longer file
        (the cache does not fsync, so a crash can leave one) counts as missing and is
        fetched or added again over it."""
        home = self._home(blob)
        try:  # one stat where the object belongs; the older place only on a miss
            st = os.stat(home)
        except FileNotFoundError:
            try:
                st = os.stat(_older(home))
            except FileNotFoundError:
                return False
        if not stat.S_ISREG(st.st_mode) or (size is not None and st.st_size != size):
            return False
        return st.st_mtime_ns == SEALED_NS or self._still_intact(blob)

    def _still_intact(self, blob: str) -> bool:
        """An object whose time moved (written through a hard link, touched, or cached by an
        older client): kept, and sealed again, only if its bytes still hash to its id."""
        path = self.path(blob)
        try:
            with path.open("rb") as handle:
                intact = sha256_handle(handle) == blob
            if intact:
                _seal(path)
            else:
                path.unlink()
        except OSError:  # gone meanwhile, or not ours to seal or remove: fetch it again
            return False
        return intact

    def temp_file(self) -> Path:
        try:
            fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        except FileNotFoundError:  # someone removed the folder: make it again
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        os.close(fd)
        return Path(name)

    def adopt(self, temp: Path, blob: str) -> Path:
        """Move a finished, verified temporary file into the cache under its hash."""
        os.chmod(temp, 0o444)
        _seal(temp)
        return self._place(temp, blob)

    def add_bytes(self, content: bytes, blob: str) -> Path:
        """Put verified bytes into the cache: one file created, written and renamed.

        The temporary file is made in the object's own folder: a rename between folders
        takes a filesystem-wide lock on Linux, and through one shared folder it made
        adding many small files about three times slower. A crash can leave a ``.tmp-``
        file there, which no lookup ever takes for an object and a later sweep removes."""
        temp = self._home(blob).with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)  # read-only from birth
        except FileNotFoundError:  # someone removed the folder: make it again
            temp.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        _mark_in_use(fd)
        try:
            try:
                write_fully(fd, content)
                _seal(fd)
            finally:
                os.close(fd)
            return self._place(temp, blob)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def take(self, handle: BinaryIO) -> tuple[str, int]:
        """Hash an open working file and make sure the cache holds its bytes: (blob, size).

        A small file is read once, and what is cached is exactly what was hashed. A large
        one is hashed first and copied only when the cache lacks it (touched or re-copied
        volumes are common, and need no second copy); the copy is hashed again, so a file
        edited meanwhile is refused rather than cached under the wrong id."""
        if os.fstat(handle.fileno()).st_size <= READ_WHOLE:
            content = handle.read()
            blob = hashlib.sha256(content).hexdigest()
            if not self.has(blob, len(content)):
                self.add_bytes(content, blob)
            return blob, len(content)
        blob, size = _hash_stream(handle, None)
        if not self.has(blob, size):
            handle.seek(0)
            temp = self.temp_file()
            try:
                with temp.open("wb") as out:
                    _mark_in_use(out.fileno())
                    copied = _hash_stream(handle, out)
                if copied != (blob, size):
                    raise InvalidInput(f"{handle.name} changed while it was being added: add it again")
                self.adopt(temp, blob)
            finally:
                temp.unlink(missing_ok=True)
        return blob, size

    def _place(self, temp: Path, blob: str) -> Path:
        """Rename into place (the folder is made again should someone have removed it)."""
        target = self._home(blob)
        try:
            os.replace(temp, target)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        return target

    def materialise(self, blob: str, dest: Path, *, link: bool = True) -> str:
        """Place object ``blob`` at ``dest``; returns how: reflink, hardlink or copy.

        Not a hard link unless ``link``. A way that failed once on the destination's
        filesystem is not tried again there: a failed reflink costs a file created and
        removed, per file of a pull. An object whose sealed time moved since it was
        checked is checked again (one stat when it did not), so an edit made through a
        link meanwhile is never placed."""
        if not self.has(blob):
            raise InvalidInput(
                f"the cached copy of {dest.name!r} changed or went while it was placed: run the command again"
            )
        source = self.path(blob)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Named after a digest of the name: as long as ever, so a 255-byte name still gets one.
        tmp = dest.with_name(f".{hashlib.sha256(dest.name.encode()).hexdigest()[:16]}.imagehub-tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        refused = self._refused.setdefault(os.stat(dest.parent).st_dev, set())
        if os.geteuid() == 0:  # read-only protects a hard-linked cache file from edits, except from root
            refused.add("hardlink")
        how = "copy"
        for way, attempt in (("reflink", _reflink), ("hardlink", _hardlink)):
            if way == "hardlink" and not link:
                continue
            if way not in refused:
                if attempt(source, tmp):
                    how = way
                    break
                refused.add(way)
        else:
            _copy(source, tmp)
        os.replace(tmp, dest)
        return how

    def materialise_all(
        self, placements: Sequence[tuple[str, Path]], workers: int, *, held: Collection[str] = ()
    ) -> list[os.stat_result]:
        """Place many objects (blob, destination) on a few threads; the placed files' stats, in order.

        An object is hard-linked at one path of a tree at most, and at none when the tree
        ``held`` it already at a path left in place: a linked file made writable and edited
        in place then changes no sibling. A copy waits on the disk with the GIL released,
        so copies overlap; links cost little either way. Ctrl-C or a failure cancels the
        placements not yet started."""
        linked = set(held)
        plan = []
        for blob, dest in placements:
            plan.append((blob, dest, blob not in linked))
            linked.add(blob)

        def place(blob: str, dest: Path, link: bool) -> os.stat_result:
            self.materialise(blob, dest, link=link)
            return dest.stat()

        with transfer_pool(workers) as pool:
            placed = [pool.submit(place, *step) for step in plan]
            return [job.result() for job in placed]


def _seal(target: Path | int) -> None:
    """Give a cached object (by path or open descriptor) the time that says it is untouched."""
    os.utime(target, ns=(time.time_ns(), SEALED_NS))


def _mark_in_use(fd: int) -> None:
    """Tell sweeps that this temporary file is being written (held until ``fd`` closes)."""
    fcntl.flock(fd, fcntl.LOCK_SH)


def _remove_if_abandoned(path: str, keep_s: int, now: float) -> bool:
    """Remove a leftover file untouched for ``keep_s`` seconds that nobody holds in use."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # gone meanwhile, a link, or not ours
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or now - st.st_mtime <= keep_s:
            return False
        os.unlink(path)
    except OSError:  # in use (the lock is taken), or gone meanwhile
        return False
    finally:
        os.close(fd)
    return True


def _older(home: Path) -> Path:
    """Where the two-level layout kept the object that now belongs at ``home``."""
    return home.parent / home.name[2:4] / home.name


def _hash_stream(handle: BinaryIO, copy: BinaryIO | None) -> tuple[str, int]:
    """SHA-256 and size of the rest of ``handle``, writing it to ``copy`` on the way."""
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK):
        check_stop()  # Ctrl-C stops a large file part way, not after the whole of it
        digest.update(chunk)
        size += len(chunk)
        if copy is not None:
            copy.write(chunk)
    return digest.hexdigest(), size


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
