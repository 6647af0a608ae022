"""``inspect``: what a file is, decided from its content, without ever raising on bad content."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO

from imagehub.core.errors import ImageHubError
from imagehub.core.imaging.dicom import dicom_metadata, is_instance, metadata_from_head, read_dataset
from imagehub.core.imaging.fragments import stream_reader
from imagehub.core.imaging.metadata import InstanceMetadata, Unreadable, describe
from imagehub.core.imaging.nifti import nifti_metadata
from imagehub.core.imaging.sniff import GZIP_MAGIC, sniff
from imagehub.core.imaging.sources import Source, open_source, remaining_bytes

Result = InstanceMetadata | Unreadable
# Enough for the header of nearly every classic instance; longer ones are read by pydicom.
HEAD_BYTES = 64 * 1024


def inspect(source: Source, name: str) -> Result:
    """``name`` (the path inside the dataset) only sharpens the reason given for unreadable files."""
    try:
        with open_source(source) as stream:
            return _inspect_stream(stream, name)
    except OSError as error:
        return Unreadable(f"cannot read the file: {error.strerror or error}")


def inspect_bytes(data: bytes, name: str) -> Result:
    return inspect(io.BytesIO(data), name)


def _inspect_stream(stream: BinaryIO, name: str) -> Result:
    match sniff(stream):
        case "empty":
            return Unreadable("empty file")
        case "dicom":
            return _from_head(stream) or _guarded("corrupt DICOM", lambda: _dicom(stream, name, force=False))
        case "dicom-raw":
            return _guarded("corrupt DICOM", lambda: _dicom(stream, name, force=True))
        case "nifti":
            return _guarded("corrupt NIfTI", lambda: nifti_metadata(stream))
    if name.lower().endswith(".nii.gz") and _gzip(stream):  # damaged? the reader says how
        return _guarded("corrupt NIfTI", lambda: nifti_metadata(stream))
    return Unreadable(_unknown_reason(name))


def _dicom(stream: BinaryIO, name: str, *, force: bool) -> Result:
    ds = read_dataset(stream, force=force)
    if force and not is_instance(ds):
        return Unreadable(_unknown_reason(name))  # no preamble and no instance tags: not DICOM
    return dicom_metadata(ds, stream)


def _from_head(stream: BinaryIO) -> Result | None:
    """The fast path (``metadata_from_head``); the stream is left where it was. The head is
    read before the size is asked for, as seeking to the end drops a buffered stream's
    read-ahead."""
    start = stream.tell()
    head = stream.read(HEAD_BYTES)
    size = len(head) if len(head) < HEAD_BYTES else remaining_bytes(stream) + len(head)
    try:  # the rest of the file is read only for compressed pixel data's item headers
        return metadata_from_head(head, size, stream_reader(stream, start))
    finally:
        stream.seek(start)


def _gzip(stream: BinaryIO) -> bool:
    start = stream.tell()
    magic = stream.read(2)
    stream.seek(start)
    return magic == GZIP_MAGIC


def _guarded(prefix: str, read: Callable[[], Result]) -> Result:
    """Parsers fail on damaged bytes with every kind of exception; each becomes a short reason."""
    try:
        return read()
    except ImageHubError:
        raise  # the store failed to return the bytes (an outage): nothing about the file
    except Exception as error:
        return Unreadable(f"{prefix}: {describe(error)}")


def _unknown_reason(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".dcm", ".dicom")):
        return "not a DICOM file: no 'DICM' marker and no readable data set"
    if lowered.endswith((".nii", ".nii.gz")):
        return "not a NIfTI file: no NIfTI header"
    return "not a DICOM or NIfTI file"
