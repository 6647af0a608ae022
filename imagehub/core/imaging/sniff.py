"""Recognise a file's format from its first bytes, whatever its name says."""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import BinaryIO, Literal

Format = Literal["empty", "dicom", "dicom-raw", "nifti", "unknown"]

GZIP_MAGIC = b"\x1f\x8b"
# NIfTI-1 and NIfTI-2 start with their header size, in the file's own byte order.
NIFTI_HEADER_SIZES = (348, 540)
# Data sets without the preamble start with the file meta group or the identifying group.
_RAW_DICOM_GROUPS = frozenset({0x0002, 0x0008})


def sniff(stream: BinaryIO) -> Format:
    """Reads a few bytes and puts the stream back where it was."""
    start = stream.tell()
    head = stream.read(132)
    stream.seek(start)
    if not head:
        return "empty"
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(GZIP_MAGIC):
        head = _gunzip_head(stream, start)
    if nifti_header_size(head) is not None:
        return "nifti"
    if len(head) >= 8 and (_group(head, "<") in _RAW_DICOM_GROUPS or _group(head, ">") == 0x0008):
        return "dicom-raw"
    return "unknown"


def nifti_header_size(head: bytes) -> int | None:
    """348 or 540 when ``head`` starts like a NIfTI header in either byte order."""
    if len(head) < 4:
        return None
    for order in "<>":
        (size,) = struct.unpack(f"{order}i", head[:4])
        if size in NIFTI_HEADER_SIZES:
            return int(size)
    return None


def _group(head: bytes, order: str) -> int:
    (group,) = struct.unpack(f"{order}H", head[:2])
    return int(group)


def _gunzip_head(stream: BinaryIO, start: int) -> bytes:
    """The first decompressed bytes, or nothing when the gzip stream is broken from the start."""
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            return unzipped.read(4)
    except (OSError, EOFError, zlib.error):
        return b""
    finally:
        stream.seek(start)
