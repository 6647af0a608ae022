"""Descriptor-level writes, shared by the server's local store and the client's cache.

Plain ``os.write`` calls rather than file objects: for many small files, creating the
file is the cost, and Python's buffered wrappers around each one added half again.
"""

from __future__ import annotations

import errno
import os


def write_fully(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte: one ``os.write`` may take fewer than it was given."""
    view = memoryview(data)
    while view:
        count = os.write(fd, view)
        if count == 0:
            raise OSError(errno.EIO, "a write made no progress")
        view = view[count:]
