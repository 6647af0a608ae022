"""Instances in the transfer syntax a DICOMweb client asks for (PS3.18 8.7.3): Explicit VR
Little Endian with native pixel data, which every client reads, made from whatever was stored;
and the media type under which a compressed frame's bitstream travels as it is."""

from __future__ import annotations

import io
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian

from imagehub.core.imaging import header
from imagehub.core.imaging.dicom import read_dataset
from imagehub.core.imaging.dicomjson import little_endian
from imagehub.core.imaging.frames import native_value
from imagehub.core.imaging.pixels import decoding
from imagehub.core.imaging.sniff import sniff
from imagehub.core.imaging.spans import PIXEL_DATA_TAGS

EXPLICIT_LITTLE_ENDIAN = str(ExplicitVRLittleEndian)
# The media types of compressed bitstreams (PS3.18 Table 8.7.3-5), by transfer syntax.
BITSTREAM_TYPES = {
    **dict.fromkeys(("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"), "image/jpeg"),
    **dict.fromkeys(("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"), "image/jpeg"),
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    **dict.fromkeys(("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"), "image/jls"),
    **dict.fromkeys(("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"), "image/jp2"),
    **dict.fromkeys(("1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"), "image/jpx"),
    **dict.fromkeys(("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202"), "image/jphc"),
    "1.2.840.10008.1.2.4.203": "image/jphc",
}


def decodable(syntax: str) -> bool:
    """Whether pixel data stored in ``syntax`` can be made native here."""
    uid = UID(syntax)
    if not uid.is_encapsulated:
        return True
    try:
        return bool(get_decoder(uid).is_available)
    except NotImplementedError:  # no decoder exists for it at all (MPEG video, say)
        return False


def explicit_little_endian(stream: BinaryIO, name: str) -> bytes:
    """The instance as a Part-10 file in Explicit VR Little Endian: compressed pixel data
    decoded (colour as RGB), big-endian words swapped, the SOP Instance UID kept."""
    with decoding(name):
        ds = read_dataset(stream, force=sniff(stream) == "dicom-raw", pixels=True)
        syntax = UID(ds.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian)
        if syntax.is_encapsulated:
            ds.decompress(generate_instance_uid=False)
        elif syntax == ExplicitVRBigEndian:
            _swap_words(ds, header.integer(ds, "BitsAllocated") or 8)
            ds.set_original_encoding(False, True)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        out = io.BytesIO()
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
        return out.getvalue()


def _swap_words(ds: Dataset, allocated: int) -> None:
    """Every binary word of a big-endian data set in little-endian order, the pixel data by
    its samples; reading each element first converts it as read."""
    for element in list(ds):
        if element.VR == "SQ":
            for item in element.value:
                _swap_words(item, allocated)
        elif element.tag in PIXEL_DATA_TAGS:
            ds[element.tag].value = native_value(ds, ExplicitVRBigEndian, allocated)
        else:
            ds[element.tag] = little_endian(element, big=True)
