"""Tolerant typed reads of DICOM header values.

A malformed optional value (a ``DS`` of "abc", a missing sequence item) makes that one field
unknown instead of making the whole file unreadable. Enhanced multi-frame objects keep geometry
and rescale in functional groups, so those are looked up there too.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from functools import cache
from typing import Any, TypeAlias, TypeVar

from pydicom.charset import default_encoding
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException
from pydicom.multival import MultiValue

from imagehub.core.imaging.spans import SpanLevel, Unsupported, known_vr

# Where enhanced (multi-frame) objects keep what classic ones carry at the top level.
_FUNCTIONAL_GROUP = {
    "PixelSpacing": "PixelMeasuresSequence",
    "SliceThickness": "PixelMeasuresSequence",
    "ImagePositionPatient": "PlanePositionSequence",
    "ImageOrientationPatient": "PlaneOrientationSequence",
    "RescaleSlope": "PixelValueTransformationSequence",
    "RescaleIntercept": "PixelValueTransformationSequence",
    "WindowCenter": "FrameVOILUTSequence",
    "WindowWidth": "FrameVOILUTSequence",
}
_GROUP_SEQUENCES = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")

T = TypeVar("T")
# A header as pydicom reads it, or cut into spans of the file's bytes (``spans.py``).
Header: TypeAlias = Dataset | SpanLevel


def raw_value(ds: Header, keyword: str, frame: int | None = None) -> Any:
    """The value at the top level, else in the shared or first per-frame functional group.

    For one ``frame`` (0-based) of an enhanced object, that frame's own functional group
    comes first, then the shared one, then the top level: positions, and often rescales,
    differ from frame to frame."""
    macro = _FUNCTIONAL_GROUP.get(keyword)
    if frame is not None and macro is not None:
        for group in (_item(ds, _GROUP_SEQUENCES[1], frame), _first_item(ds, _GROUP_SEQUENCES[0])):
            item = _first_item(group, macro)
            value = _get(item, keyword) if item is not None else None
            if value is not None and value != "":
                return value
        return _get(ds, keyword)
    value = _get(ds, keyword)
    if value is not None and value != "":
        return value
    if macro is None:
        return None
    for groups in _GROUP_SEQUENCES:
        item = _first_item(_first_item(ds, groups), macro)
        if item is not None:
            return _get(item, keyword)
    return None


def _get(ds: Header, keyword: str) -> Any:
    """The converted value, or ``None`` when absent or malformed. Converting the raw element
    here rather than through ``ds[tag]`` skips the keyword resolution and write-back that
    otherwise take a third of inspection time; ``ds`` stays as read."""
    if isinstance(ds, SpanLevel):
        return _span_value(ds, _tag(keyword))
    element = ds.get_item(_tag(keyword))
    try:
        if isinstance(element, RawDataElement):
            fast = _decode_raw(element)
            if fast is not _UNDECIDED:
                return fast
            encoding = ds.original_character_set or default_encoding
            element = convert_raw_data_element(element, encoding=encoding, ds=ds)
        return None if element is None else element.value
    except (TypeError, ValueError, BytesLengthException):
        return None


def _span_value(level: SpanLevel, tag: int) -> Any:
    """As ``_get``, for a header cut into spans; a malformed sequence raises ``Unsupported``
    so that the whole file is read by pydicom instead."""
    span = level.span(tag)
    if span is None:
        return None
    vr = span[0] or known_vr(tag)
    if vr == "SQ":
        if known_vr(tag) not in (None, "SQ"):
            raise Unsupported("a sequence where the dictionary has a value")
        return level.sequence(tag)
    try:
        fast = _decode_plain(vr, level.raw(tag))
        return level.decoded(tag) if fast is _UNDECIDED else fast
    except (TypeError, ValueError, BytesLengthException):
        return None


_UNDECIDED = object()


def _decode_raw(element: RawDataElement) -> Any:
    """The value decoded as pydicom would, for the common plain cases (see ``_PLAIN_VRS``);
    ``_UNDECIDED`` for anything else, which pydicom then converts (or rejects) itself.
    Implicit VR elements take the dictionary's VR, as pydicom does."""
    if element.value is None or not element.is_little_endian:
        return _UNDECIDED
    return _decode_plain(element.VR or known_vr(element.tag), element.value)


def _decode_plain(vr: str | None, raw: bytes) -> Any:
    if vr not in _PLAIN_VRS:
        return _UNDECIDED
    decode = _PLAIN_VRS[vr]
    try:
        found = decode(raw, vr)
    except ValueError:  # an IS of "17.0", a value of odd length: pydicom's rules decide
        return _UNDECIDED
    return found[0] if isinstance(found, list) and len(found) == 1 else found


def _texts(raw: bytes, vr: str) -> list[str] | str:
    """Split like pydicom: trailing padding goes; AE items lose leading spaces too, date and
    time items their trailing ones."""
    items = raw.decode("latin-1").rstrip(" \x00").split("\\")
    if vr == "AE":
        items = [item.strip() for item in items]
    elif vr in ("DA", "TM"):
        items = [item.rstrip() for item in items]
    return "" if items == [""] else items


def _plain_text(raw: bytes) -> str:
    """Bytes that are ASCII with no escape sequence read the same in every DICOM character
    set, so names and descriptions in them need not wait for the set to be resolved."""
    if not raw.isascii() or b"\x1b" in raw:
        raise ValueError("not plain ASCII: decoded with the character set")
    return raw.decode("ascii")


def _strings(raw: bytes, vr: str) -> list[str]:
    """LO, SH, UC: multi-valued, each value without trailing padding."""
    return [item.rstrip("\x00 ") for item in _plain_text(raw).split("\\")]


def _long_text(raw: bytes, vr: str) -> str:
    """LT, ST, UT: one value, in which a backslash is just a character."""
    return _plain_text(raw).rstrip("\x00 ")


def _person_names(raw: bytes, vr: str) -> list[str]:
    """PN as the text of its names (what ``str`` of pydicom's ``PersonName`` gives). Names
    with ideographic or phonetic groups (after ``=``) are left to pydicom, which drops the
    empty ones."""
    if b"=" in raw:
        raise ValueError("component groups: pydicom's PersonName decides")
    return _plain_text(raw.rstrip(b"\x00 ")).split("\\")


def _numbers(kind: Callable[[str], T]) -> Callable[[bytes, str], list[T | str] | str]:
    def decode(raw: bytes, vr: str) -> list[T | str] | str:
        found = _texts(raw, vr)
        return [kind(item) if item.strip() else "" for item in found] if found else ""

    return decode


def _binary(code: str, size: int) -> Callable[[bytes, str], list[Any] | str]:
    def decode(raw: bytes, vr: str) -> list[Any] | str:
        count, rest = divmod(len(raw), size)
        if rest:
            raise ValueError("length is not a multiple of the value size")
        return list(struct.unpack(f"<{count}{code}", raw)) if count else ""

    return decode


# Value representations decoded here without pydicom's conversion machinery: metadata
# extraction reads some sixty values per instance. Those that need no character set always;
# names and descriptions when their bytes are plain ASCII. Everything else (other text,
# sequences) goes through pydicom.
_PLAIN_VRS: dict[str, Callable[[bytes, str], Any]] = {
    **dict.fromkeys(("AE", "AS", "CS", "DA", "DT", "TM", "UI"), _texts),
    **dict.fromkeys(("LO", "SH", "UC"), _strings),
    **dict.fromkeys(("LT", "ST", "UT"), _long_text),
    "PN": _person_names,
    "DS": _numbers(float),
    "IS": _numbers(int),
    "US": _binary("H", 2),
    "SS": _binary("h", 2),
    "UL": _binary("I", 4),
    "SL": _binary("i", 4),
    "FL": _binary("f", 4),
    "FD": _binary("d", 8),
}


@cache
def _tag(keyword: str) -> int:
    """A plain int: pydicom's ``BaseTag`` compares in Python, slowing every lookup."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"{keyword} is not a DICOM keyword")
    return int(tag)


def _first_item(ds: Header | None, keyword: str) -> Header | None:
    return _item(ds, keyword, 0)


def _item(ds: Header | None, keyword: str, index: int) -> Header | None:
    sequence = _get(ds, keyword) if ds is not None else None
    return sequence[index] if sequence and index < len(sequence) else None


def text(ds: Header, keyword: str) -> str | None:
    return _as_text(raw_value(ds, keyword))


def scalar(ds: Header, keyword: str) -> str | int | float | None:
    """Numbers keep the type their VR gives them (IS and US are ints, DS and FD floats)."""
    value = raw_value(ds, keyword)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    return _as_text(value)


def integer(ds: Header, keyword: str) -> int | None:
    return _convert(raw_value(ds, keyword), int)


def number(ds: Header, keyword: str, frame: int | None = None) -> float | None:
    return _convert(raw_value(ds, keyword, frame), float)


def numbers(ds: Header, keyword: str, count: int, frame: int | None = None) -> tuple[float, ...] | None:
    """Exactly ``count`` values or nothing: a PixelSpacing with one value is as bad as none."""
    value = raw_value(ds, keyword, frame)
    if not isinstance(value, MultiValue | list | tuple) or len(value) != count:
        return None
    try:
        found = tuple(float(item) for item in value)
    except (TypeError, ValueError):
        return None
    return found if all(math.isfinite(item) for item in found) else None  # "nan" is no spacing


def _as_text(value: Any) -> str | None:
    """Multi-valued strings are joined with DICOM's own backslash separator."""
    if value is None:
        return None
    joined = "\\".join(str(item) for item in value) if isinstance(value, MultiValue | list) else str(value)
    return joined.strip() or None


def _convert(value: Any, kind: Callable[[Any], T]) -> T | None:
    """The first of a multi-valued element (WindowCenter "40\\400"), converted, or ``None``."""
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    try:
        converted = None if value is None or value == "" else kind(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if isinstance(converted, float) and not math.isfinite(converted):
        return None  # "nan" or "inf" in a header is no value, and not valid JSON either
    return converted
