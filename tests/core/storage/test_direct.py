"""Writes whose bulk bypasses the page cache: exact bytes whatever the length, and the cache
path whenever the filesystem refuses direct I/O or cuts a write short."""

from __future__ import annotations

import errno
import fcntl
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from imagehub.core.storage import direct
from imagehub.core.storage.local import FileStore

SIZES = [
    direct.MIN_SIZE,
    direct.MIN_SIZE + 1,
    40 * direct.BLOCK + 5,
    524_288 + 1578,
    direct.CACHED_HEAD + direct.PIECE,
    3 * direct.PIECE + 5,
]


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        direct.write(fd, data)
    finally:
        os.close(fd)


def _count_direct_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Offsets of the writes made while the file was open for direct I/O."""
    real = os.pwrite
    offsets: list[int] = []

    def pwrite(fd: int, view: memoryview, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            offsets.append(offset)
        return real(fd, view, offset)

    monkeypatch.setattr(direct.os, "pwrite", pwrite)
    return offsets


@pytest.mark.parametrize("size", SIZES)
def test_the_bytes_land_exactly_and_the_bulk_goes_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    offsets = _count_direct_writes(monkeypatch)
    data = os.urandom(size)
    assert direct.suits(data)
    _write(tmp_path / "object", data)
    assert (tmp_path / "object").read_bytes() == data
    # this machine's filesystems take direct I/O, a piece at a time past the cached head
    assert offsets == list(range(direct.CACHED_HEAD, size, direct.PIECE))


def test_small_values_are_left_to_the_cache() -> None:
    assert not direct.suits(bytes(direct.MIN_SIZE - 1))


def test_a_refusing_filesystem_gets_buffered_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = fcntl.fcntl

    def refuse(fd: int, command: int, arg: int = 0) -> int:
        if command == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "direct I/O not supported")
        return real(fd, command, arg)

    monkeypatch.setattr(direct.fcntl, "fcntl", refuse)
    data = os.urandom(300_003)
    _write(tmp_path / "refused", data)
    assert (tmp_path / "refused").read_bytes() == data
    store = FileStore(tmp_path / "objects")
    store.put("blob", data)
    assert b"".join(store.get("blob")) == data


def test_a_refused_first_write_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwrite

    def refuse_direct(fd: int, view: memoryview, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "not on this filesystem")
        return real(fd, view, offset)

    monkeypatch.setattr(direct.os, "pwrite", refuse_direct)
    data = os.urandom(200_003)
    _write(tmp_path / "refused", data)
    assert (tmp_path / "refused").read_bytes() == data


def test_a_short_write_is_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwrite
    offsets: list[int] = []

    def short_first(fd: int, view: memoryview, offset: int) -> int:
        offsets.append(offset)
        return real(fd, view[: direct.BLOCK] if len(offsets) == 2 else view, offset)

    monkeypatch.setattr(direct.os, "pwrite", short_first)
    data = os.urandom(200_003)
    _write(tmp_path / "short", data)
    assert (tmp_path / "short").read_bytes() == data
    assert offsets == [0, direct.CACHED_HEAD, direct.CACHED_HEAD + direct.BLOCK]


def test_the_store_writes_large_objects_partly_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offsets = _count_direct_writes(monkeypatch)
    store = FileStore(tmp_path / "objects")
    data = os.urandom(600_000)
    with store.batch() as batch:
        batch.put("a/blob", data)
    store.put("b/blob", data)
    assert b"".join(store.get("a/blob")) == data
    assert b"".join(store.get("b/blob")) == data
    assert offsets == [direct.CACHED_HEAD, direct.CACHED_HEAD]


def _write_many(folder: Path, seed: int, count: int) -> list[bytes]:
    contents = [bytes([seed, i]) * (direct.PIECE + 3 * direct.CACHED_HEAD) for i in range(count)]
    for i, data in enumerate(contents):
        _write(folder / f"{seed}-{i}", data)
    return contents


def test_threads_each_write_their_own_bytes(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(lambda seed: _write_many(tmp_path, seed, 6), range(8)))
    for seed, contents in enumerate(written):
        for i, data in enumerate(contents):
            assert (tmp_path / f"{seed}-{i}").read_bytes() == data


def test_a_forked_process_does_not_share_the_buffer(tmp_path: Path) -> None:
    """A process forked after the buffer exists (a pool, a preloading server) writes through
    its own copy: parent and child writing at once each store exactly their bytes."""
    _write_many(tmp_path, 200, 1)  # the buffer exists before the fork
    child = os.fork()
    if child == 0:
        try:
            _write_many(tmp_path, 1, 20)
        finally:
            os._exit(0)
    mine = _write_many(tmp_path, 2, 20)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    theirs = [bytes([1, i]) * (direct.PIECE + 3 * direct.CACHED_HEAD) for i in range(20)]
    for i in range(20):
        assert (tmp_path / f"2-{i}").read_bytes() == mine[i]
        assert (tmp_path / f"1-{i}").read_bytes() == theirs[i]
