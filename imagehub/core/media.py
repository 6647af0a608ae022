"""Media types of dataset files, told by their names: one table for every way files arrive."""

from __future__ import annotations

import posixpath
import re

OCTET_STREAM = "application/octet-stream"
MEDIA_TYPES = {".dcm": "application/dicom", ".nii": "application/x-nifti", ".gz": "application/gzip"}
# What a browser may show in place: types that run no script. Anyone with write access picks
# a file's media type, so any other (text/html, image/svg+xml, ...) goes out as a download.
INLINE_TYPES = frozenset(
    {
        *MEDIA_TYPES.values(),
        OCTET_STREAM,
        "application/json",
        "image/png",
        "image/jpeg",
        "text/plain",
        "text/csv",
    }
)


# RFC 9110 (was 7231) section 8.3.1: type "/" subtype *( OWS ";" OWS [ parameter ] ), ASCII
# only.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))?)*")
MEDIA_TYPE_LIMIT = 255  # what the staging table's column holds
MEDIA_TYPE_RULE = (
    "a media type is type/subtype with optional ;name=value parameters, in ASCII,"
    f" at most {MEDIA_TYPE_LIMIT} characters"
)


def is_media_type(value: str) -> bool:
    """Whether ``value`` may be stored as a file's media type: every download sends it back
    in a header, where a line break or a non-ASCII character cannot go."""
    return len(value) <= MEDIA_TYPE_LIMIT and _MEDIA_TYPE.fullmatch(value) is not None


def media_type_of(name: str) -> str:
    """The media type a file's extension implies, else a plain byte stream."""
    return MEDIA_TYPES.get(posixpath.splitext(name)[1].lower(), OCTET_STREAM)


def inline_type(media_type: str) -> str | None:
    """The bare type to serve a stored file as in place, or None when it must be a download."""
    base = media_type.split(";", 1)[0].strip().lower()
    return base if base in INLINE_TYPES else None
