"""Media types of dataset files, told by their names: one table for every way files arrive."""

from __future__ import annotations

import posixpath

OCTET_STREAM = "application/octet-stream"
MEDIA_TYPES = {".dcm": "application/dicom", ".nii": "application/x-nifti", ".gz": "application/gzip"}


def media_type_of(name: str) -> str:
    """The media type a file's extension implies, else a plain byte stream."""
    return MEDIA_TYPES.get(posixpath.splitext(name)[1].lower(), OCTET_STREAM)
