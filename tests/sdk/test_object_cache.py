"""The local object cache: how objects reach a working copy, and that each way is tried
only where it can work."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from imagehub.core.errors import InvalidInput
from imagehub.sdk import objects, parallel
from imagehub.sdk.objects import ObjectCache


def _cached(cache: ObjectCache, content: bytes) -> str:
    blob = hashlib.sha256(content).hexdigest()
    cache.add_bytes(content, blob)
    return blob


def test_objects_land_whole_and_the_cache_stays_read_only(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache")
    blob = _cached(cache, b"slice" * 1000)
    how = cache.materialise(blob, tmp_path / "wc" / "a" / "slice.dcm")
    assert (tmp_path / "wc" / "a" / "slice.dcm").read_bytes() == b"slice" * 1000
    assert not os.stat(cache.path(blob)).st_mode & 0o222
    if os.geteuid() == 0:  # root may write to read-only files: a link would expose the cache
        assert how == "copy"
        assert os.stat(tmp_path / "wc" / "a" / "slice.dcm").st_ino != os.stat(cache.path(blob)).st_ino


def test_a_way_that_failed_on_a_filesystem_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clones = []
    real = fcntl.ioctl

    def counting(fd: int, request: int, arg: int = 0) -> int:
        if request == objects.FICLONE:
            clones.append(fd)
        return real(fd, request, arg)

    monkeypatch.setattr(objects.fcntl, "ioctl", counting)
    cache = ObjectCache(tmp_path / "cache")
    blobs = [_cached(cache, f"object {i}".encode()) for i in range(5)]
    ways = {cache.materialise(blob, tmp_path / "wc" / f"{i}.dcm") for i, blob in enumerate(blobs)}
    for i in range(5):
        assert (tmp_path / "wc" / f"{i}.dcm").read_bytes() == f"object {i}".encode()
    if ways == {"reflink"}:  # a filesystem that clones (btrfs, xfs): every file cloned
        assert len(clones) == 5
    else:  # ext4 and the like: one failed attempt, then links or copies only
        assert len(clones) == 1
        assert not list((tmp_path / "wc").glob(".*imagehub-tmp"))


@pytest.mark.parametrize("size", [0, 2048, objects.READ_WHOLE, objects.READ_WHOLE + 1, 3 * objects.CHUNK + 5])
def test_taken_files_are_hashed_and_cached_whole_and_read_only(tmp_path: Path, size: int) -> None:
    cache = ObjectCache(tmp_path / "cache")
    source = tmp_path / "slice.dcm"
    source.write_bytes(os.urandom(size))
    with source.open("rb") as handle:
        blob, taken = cache.take(handle)
    assert (blob, taken) == (hashlib.sha256(source.read_bytes()).hexdigest(), size)
    assert cache.path(blob).read_bytes() == source.read_bytes()
    assert not os.stat(cache.path(blob)).st_mode & 0o222
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


@pytest.mark.parametrize("size", [2048, objects.READ_WHOLE + 1])
def test_an_object_already_cached_is_not_written_again(tmp_path: Path, size: int) -> None:
    cache = ObjectCache(tmp_path / "cache")
    content = os.urandom(size)
    blob = _cached(cache, content)
    before = os.stat(cache.path(blob))
    (tmp_path / "copy.dcm").write_bytes(content)
    with (tmp_path / "copy.dcm").open("rb") as handle:
        assert cache.take(handle) == (blob, size)
    after = os.stat(cache.path(blob))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_a_cache_of_the_older_two_level_layout_is_moved_up_and_still_serves(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    contents = [f"object {i}".encode() for i in range(3)]
    blobs = [hashlib.sha256(c).hexdigest() for c in contents]
    for blob, content in zip(blobs, contents, strict=True):
        old = root / "objects" / blob[:2] / blob[2:4] / blob
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_bytes(content)
        old.chmod(0o444)
    cache = ObjectCache(root)
    for blob, content in zip(blobs, contents, strict=True):
        assert cache.has(blob)
        assert cache.path(blob) == root / "objects" / blob[:2] / blob
        assert cache.path(blob).read_bytes() == content
        assert not (root / "objects" / blob[:2] / blob[2:4]).exists()
    assert len([p for p in (root / "objects").iterdir() if p.is_dir()]) == 256
    again = ObjectCache(root)  # a second open finds the layout done and changes nothing
    assert [again.path(b).read_bytes() for b in blobs] == contents


def test_a_write_that_fails_leaves_neither_object_nor_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ObjectCache(tmp_path / "cache")
    content = b"slice that will not fit"
    blob = hashlib.sha256(content).hexdigest()

    def disk_full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(objects, "write_fully", disk_full)
    with pytest.raises(OSError, match="No space left"):
        cache.add_bytes(content, blob)
    assert not cache.has(blob)
    assert list(cache.path(blob).parent.iterdir()) == []
    monkeypatch.undo()
    cache.add_bytes(content, blob)  # the next attempt stores it
    assert cache.path(blob).read_bytes() == content


def test_a_large_file_edited_while_it_is_added_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ObjectCache(tmp_path / "cache")
    source = tmp_path / "volume.nii"
    source.write_bytes(os.urandom(objects.READ_WHOLE + 10))
    real = objects._hash_stream
    calls = []

    def edited_after_hashing(handle: BinaryIO, copy: BinaryIO | None) -> tuple[str, int]:
        found = real(handle, copy)
        if not calls:  # the scanner edits the file between the hash and the copy
            source.write_bytes(os.urandom(objects.READ_WHOLE + 10))
        calls.append(copy)
        return found

    monkeypatch.setattr(objects, "_hash_stream", edited_after_hashing)
    with source.open("rb") as handle, pytest.raises(InvalidInput, match="changed while it was being added"):
        cache.take(handle)
    assert [
        p
        for p in (tmp_path / "cache" / "objects").rglob("*")
        if p.is_file() and p.name != objects.LAYOUT_MARK
    ] == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def _old_layout(root: Path, count: int) -> dict[str, bytes]:
    contents = {}
    for i in range(count):
        content = f"object {i}".encode()
        blob = hashlib.sha256(content).hexdigest()
        old = root / "objects" / blob[:2] / blob[2:4] / blob
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_bytes(content)
        contents[blob] = content
    return contents


def _open_cache(root: str) -> None:
    ObjectCache(Path(root))


def test_processes_opening_an_old_cache_at_once_all_succeed_and_lose_nothing(tmp_path: Path) -> None:
    contents = _old_layout(tmp_path / "cache", 3000)
    context = multiprocessing.get_context("fork")
    with context.Pool(6) as pool:
        pool.map(_open_cache, [str(tmp_path / "cache")] * 6)
    cache = ObjectCache(tmp_path / "cache")
    assert {blob: cache.path(blob).read_bytes() for blob in contents} == contents
    assert all(cache.path(blob) == tmp_path / "cache" / "objects" / blob[:2] / blob for blob in contents)


def test_objects_an_older_client_writes_after_the_move_are_still_found(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache")
    (later,) = _old_layout(tmp_path / "cache", 1)  # the older client's own layout
    assert cache.has(later)
    assert cache.path(later).read_bytes() == b"object 0"
    how = cache.materialise(later, tmp_path / "wc" / "a.dcm")
    assert how in ("reflink", "hardlink", "copy")
    assert (tmp_path / "wc" / "a.dcm").read_bytes() == b"object 0"


@pytest.mark.parametrize("blob", ["../../../../etc/passwd", "ab" * 31, "AB" * 32, "ab" * 32 + "/x"])
def test_an_object_id_that_is_not_a_sha256_never_names_a_file(tmp_path: Path, blob: str) -> None:
    cache = ObjectCache(tmp_path / "cache")
    with pytest.raises(InvalidInput, match="not a SHA-256"):
        cache.has(blob)
    with pytest.raises(InvalidInput, match="not a SHA-256"):
        cache.add_bytes(b"x", blob)


def test_leftovers_of_crashed_writers_are_swept_once_a_day(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = ObjectCache(root)
    blob = _cached(cache, b"kept object")
    day = 24 * 3600

    def planted(path: Path, age_s: float) -> Path:
        path.write_bytes(b"left behind")
        os.utime(path, (os.path.getmtime(path) - age_s,) * 2)
        return path

    folder = cache.path(blob).parent
    stale_temp = planted(folder / f"{objects.TEMP_PREFIX}crashed", 2 * day)
    fresh_temp = planted(folder / f"{objects.TEMP_PREFIX}writing", 60)
    stale_tmp = planted(root / "tmp" / "tmpabc123", 2 * day)
    resumable = planted(root / "tmp" / f"{'a' * 64}{objects.PARTIAL_SUFFIX}", 3 * day)
    abandoned = planted(root / "tmp" / f"{'b' * 64}{objects.PARTIAL_SUFFIX}", 8 * day)
    os.utime(cache.path(blob), (os.path.getmtime(cache.path(blob)) - 30 * day,) * 2)  # old, but an object

    ObjectCache(root)  # swept less than a day ago: nothing is listed
    assert [p.exists() for p in (stale_temp, stale_tmp, abandoned)] == [True, True, True]

    mark = root / objects.SWEEP_MARK
    os.utime(mark, (os.path.getmtime(mark) - 2 * day,) * 2)
    ObjectCache(root)
    assert [p.exists() for p in (stale_temp, stale_tmp, abandoned)] == [False, False, False]
    assert [p.exists() for p in (fresh_temp, resumable)] == [True, True]
    assert cache.path(blob).read_bytes() == b"kept object"


def test_a_sweep_keeps_leftovers_that_a_live_process_still_holds(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache")
    blob = "c" * 64
    long_ago = 30 * 24 * 3600
    with cache.partial(blob) as (partial, handle):  # a download stopped for a month, then resumed
        handle.write(b"first half")
        os.utime(partial, (os.path.getmtime(partial) - long_ago,) * 2)
        assert cache.sweep_leftovers(os.path.getmtime(partial) + long_ago) == 0
        assert partial.exists()
    assert cache.sweep_leftovers(os.path.getmtime(partial) + long_ago) == 1
    assert not partial.exists()
    with cache.partial(blob) as (again, handle):  # made afresh after the sweep
        assert again == partial
        assert handle.read() == b""


def test_downloads_of_one_blob_take_turns_and_never_reach_a_cached_object(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache")
    content = b"volume bytes"
    blob = hashlib.sha256(content).hexdigest()
    first_holds, second_tried, first_done = threading.Event(), threading.Event(), threading.Event()
    seen_by_second: list[tuple[bool, bytes]] = []

    def second() -> None:
        first_holds.wait()
        second_tried.set()
        with cache.partial(blob) as (_, handle):  # waits for the first, then gets a new file
            seen_by_second.append((first_done.is_set(), handle.read()))
            handle.write(b"late writer")

    thread = threading.Thread(target=second)
    thread.start()
    with cache.partial(blob) as (partial, handle):
        first_holds.set()
        second_tried.wait()
        time.sleep(0.2)  # the second is now waiting for the lock
        handle.write(content)
        handle.flush()
        cache.adopt(partial, blob)  # finished: moved into the cache while still held
        first_done.set()
    thread.join()
    assert seen_by_second == [(True, b"")]
    assert cache.path(blob).read_bytes() == content  # the late writer never reached it


def test_an_object_written_through_a_hard_link_is_never_served_again(tmp_path: Path) -> None:
    """What an editor does to a read-only hard-linked file (make it writable, write in
    place): the object's sealed time moves, so the cache hashes it, drops it, and a pull
    fetches it anew instead of handing the edit to every other working copy."""
    cache = ObjectCache(tmp_path / "cache")
    blob = _cached(cache, b"the dataset's bytes")
    kept = _cached(cache, b"bytes nobody edits")
    working = tmp_path / "wc" / "scan.dcm"
    working.parent.mkdir()
    os.link(cache.path(blob), working)
    working.chmod(0o644)
    with working.open("r+b") as handle:
        handle.write(b"THE")
    assert not cache.has(blob, len(b"the dataset's bytes"))
    assert not cache.path(blob).exists()
    assert working.read_bytes().startswith(b"THE")  # the user's edit stays theirs
    os.utime(cache.path(kept))  # touched, not changed: hashed once, then sealed again
    assert cache.has(kept)
    assert cache.path(kept).stat().st_mtime_ns == objects.SEALED_NS


def test_an_object_is_hard_linked_at_one_path_of_a_tree_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two paths of one checkout sharing an inode would both change when one is made
    writable and edited in place; the second gets its own copy."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # as any user but root: links are used
    monkeypatch.setattr(objects, "_reflink", lambda source, dest: False)  # as on ext4
    cache = ObjectCache(tmp_path / "cache")
    twin, other = _cached(cache, b"same bytes"), _cached(cache, b"other bytes")
    tree = tmp_path / "wc"
    cache.materialise_all([(twin, tree / "a.dcm"), (twin, tree / "b.dcm"), (other, tree / "c.dcm")], 2)
    inode = cache.path(twin).stat().st_ino
    assert [(tree / n).stat().st_ino == inode for n in ("a.dcm", "b.dcm")] == [True, False]
    assert (tree / "c.dcm").stat().st_ino == cache.path(other).stat().st_ino
    cache.materialise_all([(twin, tree / "d.dcm")], 1, held={twin})  # a.dcm, kept, holds it
    assert (tree / "d.dcm").stat().st_ino != inode
    (tree / "a.dcm").chmod(0o644)
    with (tree / "a.dcm").open("r+b") as handle:
        handle.write(b"EDIT")
    assert [(tree / n).read_bytes() for n in ("b.dcm", "d.dcm")] == [b"same bytes"] * 2
    with pytest.raises(InvalidInput, match="changed or went while it was placed"):
        cache.materialise(twin, tree / "e.dcm")  # the edit is never handed on
    assert not (tree / "e.dcm").exists()


def test_hashing_a_large_file_stops_when_its_command_does(tmp_path: Path) -> None:
    """Ctrl-C sets the pool's stop flag: a file being hashed stops at its next chunk."""
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(3 * objects.CHUNK))
    stop = threading.Event()
    parallel._join(stop)
    try:
        stop.set()
        with pytest.raises(parallel.Stopped):
            objects.sha256_file(big)
    finally:
        parallel._join(threading.Event())
