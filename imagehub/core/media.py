"""Media types of dataset files, told by their names: one table for every way files arrive."""

from __future__ import annotations

import posixpath

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


def media_type_of(name: str) -> str:
    """The media type a file's extension implies, else a plain byte stream."""
    return MEDIA_TYPES.get(posixpath.splitext(name)[1].lower(), OCTET_STREAM)


def inline_type(media_type: str) -> str | None:
    """The bare type to serve a stored file as in place, or None when it must be a download."""
    base = media_type.split(";", 1)[0].strip().lower()
    return base if base in INLINE_TYPES else None
