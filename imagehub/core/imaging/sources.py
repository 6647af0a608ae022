"""One way to get a seekable byte stream from whatever the caller holds."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, TypeAlias

Source: TypeAlias = BinaryIO | str | os.PathLike[str]


@contextmanager
def open_source(source: Source) -> Iterator[BinaryIO]:
    """Paths are opened and closed here; a caller's stream stays open and is rewound afterwards,
    so the same stream can be inspected and then stored or decoded."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            yield handle
        return
    if not source.seekable():
        yield io.BytesIO(source.read())
        return
    start = source.tell()
    try:
        yield source
    finally:
        source.seek(start)


def remaining_bytes(stream: BinaryIO) -> int:
    """Bytes between the current position and the end, leaving the position unchanged."""
    here = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(here)
    return end - here
