"""DICOM files as Part-10 files, which is what DICOMweb promises whatever shape a file was
stored in: some archives and older scanners write the data set alone, with no preamble and
no file meta information, and strict readers refuse such a file."""

from __future__ import annotations

import io
from typing import BinaryIO

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

HEAD = 132  # the preamble and the "DICM" marker


def is_part10(head: bytes) -> bool:
    """Whether a file that starts with ``head`` (its first ``HEAD`` bytes) is a Part-10 file."""
    return head[128:HEAD] == b"DICM"


def as_part10(stream: BinaryIO) -> bytes:
    """The file with a preamble and file meta information; its data set is unchanged, in the
    transfer syntax it was written in."""
    dataset = pydicom.dcmread(stream, force=True)
    implicit, little = dataset.original_encoding
    inferred = (
        ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    )
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = dataset.file_meta.get("TransferSyntaxUID") or inferred
    dataset.file_meta = meta
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()
