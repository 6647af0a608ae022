"""Whole-object writes whose bulk bypasses the page cache (Linux ``O_DIRECT``).

A new object's bytes must reach the disk before a commit may name it, so the local
driver syncs every write. Written through the page cache, each byte first costs a freshly
allocated cache page, which on virtual machines can be the dearest part of a write (on
this project's 2-core VM, about three times the kernel time of a direct write: see
``bench/ingest.py``), and a bulk import then evicts whatever was hot in the cache.

The first ``CACHED_HEAD`` bytes are still written through the cache: a file's head (a
DICOM header, a NIfTI header) is what the pipeline reads right after an import, and it
should not have to come back from the disk. The rest goes straight to the device through
one page-aligned buffer of ``PIECE`` bytes per thread (direct I/O wants the memory, the
length and the offset aligned to the device's block): piece by piece, the last padded to
whole blocks and the file truncated to its true length afterwards. A filesystem that
refuses direct I/O is written to through the cache, as is any object too small to gain.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading

BLOCK = 4096  # a multiple of every logical block size in use
CACHED_HEAD = 64 * 1024  # a multiple of BLOCK, so the direct part starts aligned
MIN_SIZE = 2 * CACHED_HEAD
PIECE = 1024 * 1024  # per writing thread, for as long as the thread lives
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_REFUSED = (errno.EINVAL, errno.EOPNOTSUPP)


class _Buffer(threading.local):
    def __init__(self) -> None:
        # Anonymous memory is page-aligned; private, or a forked process would share it.
        self.memory = mmap.mmap(-1, PIECE, flags=mmap.MAP_PRIVATE)


_BUFFER = _Buffer()


def suits(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``write`` would write part of this value directly."""
    return bool(_O_DIRECT) and len(data) >= MIN_SIZE


def write(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` (one that ``suits``) as the whole content of the empty file ``fd``."""
    source = memoryview(data)
    _write_all(fd, source[:CACHED_HEAD], 0)
    if _write_direct(fd, source, CACHED_HEAD):
        os.ftruncate(fd, len(source))
    else:
        _write_all(fd, source[CACHED_HEAD:], CACHED_HEAD)


def _write_direct(fd: int, source: memoryview, start: int) -> bool:
    """``source[start:]`` at ``start`` with direct I/O; False, with nothing written, when the
    filesystem refuses it."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
    except OSError as exc:
        if exc.errno in _REFUSED:
            return False
        raise
    buffer = memoryview(_BUFFER.memory)  # not released: a traceback may still hold a slice
    try:
        for offset in range(start, len(source), PIECE):
            piece = source[offset : offset + PIECE]
            padded = -(-len(piece) // BLOCK) * BLOCK
            buffer[: len(piece)] = piece
            buffer[len(piece) : padded] = bytes(padded - len(piece))  # no stale bytes on disk
            if not _write_all(fd, buffer[:padded], offset, refusable=offset == start):
                return False
        return True
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)


def _write_all(fd: int, view: memoryview, offset: int, *, refusable: bool = False) -> bool:
    """Write all of ``view`` at ``offset``; with ``refusable``, False when the first write is
    refused as direct I/O."""
    written = 0
    while written < len(view):
        try:
            count = os.pwrite(fd, view[written:], offset + written)
        except OSError as exc:
            if refusable and exc.errno in _REFUSED and written == 0:
                return False
            raise
        if count == 0:
            raise OSError(errno.EIO, "a write made no progress")
        written += count
    return True
