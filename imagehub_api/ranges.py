"""HTTP Range parsing for object downloads (a single byte range)."""

from __future__ import annotations

import re

from imagehub.core.errors import ImageHubError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)\Z")


class RangeNotSatisfiable(ImageHubError):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` with ``end`` exclusive, or None for the whole body."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        raise RangeNotSatisfiable(f"unsupported Range header {header!r}")
    if not match[1]:  # suffix range: the last N bytes
        length = int(match[2])
        return max(size - length, 0), size
    start = int(match[1])
    end = min(int(match[2]) + 1, size) if match[2] else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"range {header!r} outside 0-{size}")
    return start, end
