"""HTTP Range handling for object downloads (RFC 9110, one byte range at a time)."""

from __future__ import annotations

import re

from imagehub.core.errors import ImageHubError

_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)
_DIGITS = 18  # more is past the end of any object, and Python refuses to parse thousands


class RangeNotSatisfiable(ImageHubError):
    """No byte of the representation lies in the range; the 416 answer names its size."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def parse_range(
    header: str | None, size: int, *, if_range: str | None = None, etag: str = ""
) -> tuple[int, int] | None:
    """``(start, end)`` with ``end`` exclusive, or None for the whole body.

    The whole body is also the answer to what a server may ignore: a unit other than bytes,
    several ranges (this server sends no multipart bodies), and an ``If-Range`` that does not
    name the current version, so a client resuming a download never splices two versions."""
    if not header or (if_range is not None and if_range.strip() != etag):
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match:
        return None
    first, last = (_capped(group) for group in (match[1], match[2]))
    if not first and not last:
        raise RangeNotSatisfiable(f"range {header!r} names no bytes", size)
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header!r} holds no byte of a {size}-byte object", size)
        return max(size - length, 0), size
    start = int(first)
    if last and int(last) < start:
        raise RangeNotSatisfiable(f"range {header!r} ends before it starts", size)
    end = min(int(last) + 1, size) if last else size
    if start >= size:
        raise RangeNotSatisfiable(f"range {header!r} starts past the end of a {size}-byte object", size)
    return start, end


def _capped(digits: str) -> str:
    return digits if len(digits) <= _DIGITS else "9" * _DIGITS
