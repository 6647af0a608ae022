"""Validation of the relative, ``/``-separated paths used as object keys and dataset paths."""

from __future__ import annotations

from imagehub.core.errors import InvalidInput

MAX_PATH_BYTES = 1024


def validate_relative_path(value: str, what: str = "path") -> str:
    """Refuse anything that could escape a root or alias another path.

    Empty, absolute, ``.``/``..``/empty segments, backslashes, NUL and control
    characters, Unicode noncharacters, and text that is not valid Unicode (lone
    surrogates) are all refused, so a path can be joined under a root safely.
    """
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no file system or client could hold it
        raise InvalidInput(f"invalid {what} {value!r}") from None
    if (
        not value
        or value.startswith("/")
        or "\\" in value
        or any(ord(ch) < 32 or _noncharacter(ord(ch)) for ch in value)
        or len(encoded) > MAX_PATH_BYTES
    ):
        raise InvalidInput(f"invalid {what} {value!r}")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise InvalidInput(f"invalid {what} {value!r}")
    return value


def _noncharacter(code: int) -> bool:
    """Unicode's noncharacters (U+FDD0..U+FDEF, and the last two of every plane) are never
    text; U+10FFFF serves as the bound past every path when listings skip a folder."""
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
