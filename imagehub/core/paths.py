"""Validation of the relative, ``/``-separated paths used as object keys and dataset paths."""

from __future__ import annotations

from imagehub.core.errors import InvalidInput

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255  # one file or folder name: what ext4, xfs, btrfs and APFS can hold
STATE_FOLDER = ".imagehub"  # where a working copy keeps its state, in any letter case


def validate_relative_path(value: str, what: str = "path") -> str:
    """Refuse anything that could escape a root or alias another path, or that no working
    copy could hold.

    Empty, absolute, ``.``/``..``/empty segments, backslashes, NUL and control
    characters, Unicode noncharacters, and text that is not valid Unicode (lone
    surrogates) are all refused, so a path can be joined under a root safely. So are
    names over 255 bytes, which no checkout could hold, and a folder named ``.imagehub``:
    a checkout holding ``x/.imagehub/config.json`` would send the token of whoever runs
    a command in ``x/`` to the server that file names.
    """
    if reason := path_problem(value):
        raise InvalidInput(f"invalid {what} {value!r}: {reason}")
    return value


def validate_stored_path(value: str, what: str = "path") -> str:
    """A path a dataset may already hold, to read or delete: safe to join under a root, but
    perhaps stored before long names and ``.imagehub`` folders were refused (so that such
    a path can still be removed)."""
    if reason := path_problem(value, stored=True):
        raise InvalidInput(f"invalid {what} {value!r}: {reason}")
    return value


def path_problem(value: str, *, stored: bool = False) -> str | None:
    """Why ``value`` cannot be a new dataset path (or, ``stored``, an existing one), in a
    few words; None when it can."""
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no file system or client could hold it
        return "the name is not valid UTF-8"
    if not value or value.startswith("/"):
        return "paths are relative, with no leading /"
    if "\\" in value or any(ord(ch) < 32 or _noncharacter(ord(ch)) for ch in value):
        return "no backslashes, control characters or Unicode noncharacters"
    if len(encoded) > MAX_PATH_BYTES:
        return f"over {MAX_PATH_BYTES} bytes"
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "no empty, '.' or '..' segments"
    if stored:
        return None
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        return f"a name over {MAX_NAME_BYTES} bytes (UTF-8), which no file system can hold"
    if any(part.casefold() == STATE_FOLDER for part in parts):
        return f"a folder named {STATE_FOLDER}, where working copies keep their state"
    return None


def shown(path: str) -> str:
    """A path from the local file system as text any terminal prints: bytes of its name
    that are not UTF-8 (decoded as lone surrogates) read as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _noncharacter(code: int) -> bool:
    """Unicode's noncharacters (U+FDD0..U+FDEF, and the last two of every plane) are never
    text; U+10FFFF serves as the bound past every path when listings skip a folder."""
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
