"""Whole-object writes whose bulk bypasses the page cache (Linux ``O_DIRECT``).

A new object's bytes must reach the disk before a commit may name it, so the local
driver syncs every write. Written through the page cache, each byte first costs a freshly
allocated cache page, which on virtual machines can be the dearest part of a write (on
this project's 2-core VM, about three times the kernel time of a direct write: see
``bench/ingest.py``), and a bulk import then evicts whatever was hot in the cache.

The first ``CACHED_HEAD`` bytes are still written through the cache: a file's head (a
DICOM header, a NIfTI header) is what the pipeline reads right after an import, and it
should not have to come back from the disk. The rest goes from one reused, page-aligned
buffer per thread straight to the device; direct I/O wants the buffer, the length and the
offset aligned to the device's block, so the tail is padded to whole blocks and the file
truncated to its true length afterwards. A filesystem that refuses direct I/O is written
to through the cache, as is any object too small to gain, or too large for the buffer.
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
MAX_SIZE = 16 * 1024 * 1024
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_REFUSED = (errno.EINVAL, errno.EOPNOTSUPP)


class _Buffers(threading.local):
    buffer: mmap.mmap | None = None

    def at_least(self, size: int) -> mmap.mmap:
        if self.buffer is None or len(self.buffer) < size:
            if self.buffer is not None:
                self.buffer.close()
            self.buffer = mmap.mmap(-1, max(size, 1024 * 1024))  # anonymous: page-aligned
        return self.buffer


_BUFFERS = _Buffers()


def suits(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``write`` would write part of this value directly."""
    return bool(_O_DIRECT) and MIN_SIZE <= len(data) <= MAX_SIZE


def write(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` (one that ``suits``) as the whole content of the empty file ``fd``."""
    size = len(data)
    _write_all(fd, memoryview(data)[:CACHED_HEAD], 0)
    tail = size - CACHED_HEAD
    padded = -(-tail // BLOCK) * BLOCK
    view = memoryview(_BUFFERS.at_least(padded))
    try:
        view[:tail] = memoryview(data)[CACHED_HEAD:]
        view[tail:padded] = bytes(padded - tail)  # no stale bytes, even before the truncate
        if _write_direct(fd, view[:padded], CACHED_HEAD):
            os.ftruncate(fd, size)
        else:
            _write_all(fd, view[:tail], CACHED_HEAD)
    finally:
        view.release()


def _write_direct(fd: int, view: memoryview, offset: int) -> bool:
    """Write ``view`` at ``offset`` with direct I/O; False, with nothing written, when the
    filesystem refuses it."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
    except OSError as exc:
        if exc.errno in _REFUSED:
            return False
        raise
    try:
        return _write_all(fd, view, offset, refusable=True)
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
