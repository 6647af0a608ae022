"""The attributes by which an output instance says how it was de-identified (PS3.15 E.1.1, CID 7050)."""

from __future__ import annotations

from functools import cache

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_sequence
from pydicom.tag import Tag

from imagehub.core.deid.elements import put
from imagehub.core.deid.level import Level
from imagehub.core.deid.profile import Option, Profile

_CODE_SEQUENCE = Tag(0x00120064)  # De-identification Method Code Sequence
_CODE_VALUE, _CODING_SCHEME, _CODE_MEANING = 0x00080100, 0x00080102, 0x00080104


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    put(item, _CODE_VALUE, "SH", value)
    put(item, _CODING_SCHEME, "SH", "DCM")
    put(item, _CODE_MEANING, "LO", meaning)
    return item


@cache
def _encoded_codes(codes: tuple[tuple[str, str], ...], implicit_vr: bool, little_endian: bool) -> bytes:
    """The code sequence's items as they are written: pydicom spends a tenth of a millisecond
    encoding each item, so the items, the same for every instance of a profile, are encoded
    once per profile and transfer syntax and written as they are (and decoded if read)."""
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = implicit_vr, little_endian
    write_sequence(buffer, DataElement(_CODE_SEQUENCE, "SQ", [_code(*code) for code in codes]), ["iso8859"])
    return buffer.getvalue()


def _temporal_status(profile: Profile) -> str:
    if Option.RETAIN_LONG_FULL_DATES in profile.options:
        return "UNMODIFIED"
    if Option.RETAIN_LONG_MODIFIED_DATES in profile.options:
        return "MODIFIED"
    return "REMOVED"


def mark_deidentified(level: Level, profile: Profile, edition: str) -> None:
    """Patient Identity Removed, the method in words (one LO value per part, each under 64
    characters) and in codes, and whether dates were kept, shifted or removed."""
    codes = tuple(profile.codes())
    method = [f"ImageHub {profile.name}"[:64], f"DICOM PS3.15 {edition}", *(meaning for _, meaning in codes)]
    level.put(0x00120062, "CS", "YES")  # Patient Identity Removed
    level.put(0x00120063, "LO", method)  # De-identification Method
    level.put_encoded(_CODE_SEQUENCE, "SQ", _encoded_codes(codes, *level.encoding))
    level.put(0x00280303, "CS", _temporal_status(profile))  # Longitudinal Temporal Information Modified
