"""Validation of the relative, ``/``-separated paths used as object keys and dataset paths."""

from __future__ import annotations

from imagehub.core.errors import InvalidInput

MAX_PATH_BYTES = 1024


def validate_relative_path(value: str, what: str = "path") -> str:
    """Refuse anything that could escape a root or alias another path.

    Empty, absolute, ``.``/``..``/empty segments, backslashes, NUL and control
    characters, and text that is not valid Unicode (lone surrogates) are all refused, so
    a path can be joined under a root safely.
    """
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no file system or client could hold it
        raise InvalidInput(f"invalid {what} {value!r}") from None
    if (
        not value
        or value.startswith("/")
        or "\\" in value
        or any(ord(ch) < 32 for ch in value)
        or len(encoded) > MAX_PATH_BYTES
    ):
        raise InvalidInput(f"invalid {what} {value!r}")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise InvalidInput(f"invalid {what} {value!r}")
    return value
