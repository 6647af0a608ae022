"""De-identification on a file's encoded bytes: the fast kind of ``Level``.

pydicom builds an object for every element it reads and encodes every one again when it
writes, most of a millisecond for a header of a few hundred elements. Here a file is cut
into element spans once; what the walker leaves alone is copied as it was, and only what
it changes is encoded, so a header de-identifies several times faster (bench/deid.py).

Whatever this module would not encode exactly as pydicom does (big endian, deflated data,
no preamble, elements out of tag order, a File Meta that pydicom would complete, an element
running past its end) raises ``Unsupported`` before any output exists, and the caller takes
the pydicom path. Values with no simple encoding (numbers, non-ASCII text) are encoded and
decoded by pydicom's own element codecs, so the two paths agree element for element.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element

from imagehub.core.deid.actions import STRING_VRS
from imagehub.core.deid.elements import values
from imagehub.core.deid.level import Level
from imagehub.core.deid.report import encoded_summary
from imagehub.core.imaging.spans import (
    LONG_VRS,
    PIXEL_DATA,
    TRANSFER_SYNTAX,
    UINT32,
    UNDEFINED,
    SpanFile,
    SpanLevel,
    Unsupported,
    known_vr,
)

_SOP_CLASS_UID = 0x00080016
_GROUP_LENGTH, _MEDIA_STORAGE_SOP_CLASS_UID = 0x00020000, 0x00020002
# File Meta that pydicom's writer requires to hold a value, or fills in itself when empty.
_META_REQUIRED = (0x00020001, _MEDIA_STORAGE_SOP_CLASS_UID, 0x00020003, TRANSFER_SYNTAX, 0x00020012)
_IMPLEMENTATION_VERSION_NAME = 0x00020013  # added by pydicom's writer when absent
_PLAIN_TEXT_VRS = STRING_VRS  # ASCII values of these encode as themselves in every character set
_BYTES_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

_ITEM_HEADER = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_DELIMITER = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
_SEQUENCE_DELIMITER = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
_IMPLICIT_HEADER = struct.Struct("<HHL")
_SHORT_HEADER = struct.Struct("<HH2sH")
_LONG_HEADER = struct.Struct("<HH2sHL")

__all__ = ["EncodedFile", "EncodedLevel", "Unsupported"]


class EncodedLevel(SpanLevel):
    """A data set or item as spans of the original bytes, plus what the walker changed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # SpanLevel's
        super().__init__(*args, **kwargs)
        self._changed: dict[int, bytes | None] = {}  # the new element, or None when dropped
        self._put: dict[int, object] = {}
        self._inserted = False

    # -- what the walker asks ------------------------------------------------------------

    @property
    def encoding(self) -> tuple[bool, bool]:
        return self._implicit, True

    def has(self, tag: int) -> bool:
        if tag in self._changed:
            return self._changed[tag] is not None
        return tag in self._spans

    def vr(self, tag: int) -> str:
        """Raises ``Unsupported`` for a standard attribute stored as UN (see below)."""
        stored = self._spans[tag][0]
        known = known_vr(tag)
        if stored == "UN" and known is not None:
            # pydicom swaps in the dictionary's VR whenever something decodes the element,
            # so what the walker sees depends on what was read before: left to pydicom.
            raise Unsupported("a standard attribute stored as UN")
        return stored or known or "UN"

    def text(self, tag: int) -> str:
        return str(self._current(tag) or "") if self.has(tag) else ""

    def before(self, tag: int, vr: str) -> str:
        if vr == "SQ":
            return f"SQ, {len(self.items(tag))} items"
        return encoded_summary(vr, self.raw(tag))

    def values(self, tag: int) -> list[object]:
        return values(self._current(tag))

    def items(self, tag: int) -> list[Level]:
        return list(self.sequence(tag))

    def drop(self, tag: int) -> None:
        self._changed[tag] = None
        self._put.pop(tag, None)

    def put(self, tag: int, vr: str, value: object) -> None:
        self._mark_new(tag)
        self._changed[tag] = self._element(tag, vr, value)
        self._put[tag] = value

    def put_encoded(self, tag: int, vr: str, value: bytes) -> None:
        self._mark_new(tag)
        self._changed[tag] = self._header(tag, vr, len(value)) + value
        self._put.pop(tag, None)  # read back by nobody: the method's code sequence

    # -- decoding and encoding -----------------------------------------------------------

    def _mark_new(self, tag: int) -> None:
        if tag not in self._spans:
            self._inserted = True

    def _current(self, tag: int) -> object:
        """The value put last, else the stored one as pydicom would decode it."""
        return self._put[tag] if tag in self._put else self.decoded(tag)

    def _header(self, tag: int, vr: str, length: int) -> bytes:
        if self._implicit:
            return _IMPLICIT_HEADER.pack(tag >> 16, tag & 0xFFFF, length)
        if vr in LONG_VRS:
            return _LONG_HEADER.pack(tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
        if length > 0xFFFF:
            raise Unsupported("a value too long for its VR")
        return _SHORT_HEADER.pack(tag >> 16, tag & 0xFFFF, vr.encode(), length)

    def _element(self, tag: int, vr: str, value: object) -> bytes:
        """An element holding ``value``: empty, ASCII text and bytes here, the rest by pydicom."""
        if vr == "SQ" and value == []:
            return self._sequence(tag, [])
        if value is None or (isinstance(value, str | bytes | list) and not value):
            return self._header(tag, vr, 0)
        body: bytes | None = None
        if vr in _PLAIN_TEXT_VRS:
            text = value
            if isinstance(value, list) and all(isinstance(part, str) for part in value):
                text = "\\".join(value)
            if isinstance(text, str) and text.isascii():
                body = text.encode("ascii")
                if len(body) % 2:
                    body += b"\x00" if vr == "UI" else b" "
        elif vr in _BYTES_VRS and isinstance(value, bytes):
            body = value + b"\x00" if len(value) % 2 else value
        if body is None:
            return self._pydicom_element(tag, vr, value)
        return self._header(tag, vr, len(body)) + body

    def _pydicom_element(self, tag: int, vr: str, value: object) -> bytes:
        buffer = DicomBytesIO()
        buffer.is_implicit_VR, buffer.is_little_endian = self._implicit, True
        try:
            element = DataElement(tag, vr, value, validation_mode=config.IGNORE)
            write_data_element(buffer, element, self.charsets or ["iso8859"])
        except Exception as exc:  # pydicom's own path meets the same value and reports it there
            raise Unsupported(f"pydicom cannot encode a {vr} value here") from exc
        return buffer.getvalue()

    def _sequence(self, tag: int, items: list[bytes]) -> bytes:
        """A sequence as pydicom writes one: undefined lengths and delimiters, which alone
        say "sequence" to a reader of implicit VR data that does not know the tag."""
        parts = [self._header(tag, "SQ", UNDEFINED)]
        for item in items:
            parts += [_ITEM_HEADER, item, _ITEM_DELIMITER]
        parts.append(_SEQUENCE_DELIMITER)
        return b"".join(parts)

    def encoded(self) -> bytes:
        """The level as it now is, in tag order; retired group lengths go, as pydicom's writer drops them."""
        order = sorted(set(self._order) | self._changed.keys()) if self._inserted else self._order
        out: list[bytes] = []
        for tag in order:
            if tag & 0xFFFF == 0 and tag >> 16 > 6:
                continue
            if tag in self._changed:
                element = self._changed[tag]
                if element is not None:
                    out.append(element)
            elif tag in self._items:
                out.append(self._sequence(tag, [item.encoded() for item in self._items[tag]]))
            else:
                _, start, _, _, end, _ = self._spans[tag]
                out.append(self._data[start:end])
        return b"".join(out)


class EncodedFile(SpanFile[EncodedLevel]):
    """A Part 10 file cut into its File Meta and its data set, written back after the walk."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data, EncodedLevel)
        self._check_meta()
        if any((span[3] - span[2]) % 2 for span in map(self.meta.span, self.meta.tags()) if span):
            raise Unsupported("an odd-length File Meta value, which pydicom pads")
        if any(tag >> 16 in (0, 2) for tag in self.dataset.tags()):
            raise Unsupported("command or File Meta elements in the data set")
        pixels = self.dataset.span(PIXEL_DATA)
        if pixels is not None and pixels[5] != self.syntax.is_compressed:  # undefined length
            # pydicom's writer sets the length from the transfer syntax
            raise Unsupported("pixel data whose length does not suit its transfer syntax")

    def _check_meta(self) -> None:
        if not self.meta.has(_IMPLEMENTATION_VERSION_NAME) or not all(
            self.meta.text(tag) for tag in _META_REQUIRED
        ):
            raise Unsupported("a File Meta that pydicom would complete")

    def without_pixels(self) -> bytes:
        """The file with the value of its top-level Pixel Data cut out: everything text can
        hide in, elements after the pixels included."""
        span = self.dataset.span(PIXEL_DATA)
        if span is None:
            return self._data
        _, _, value, _, end, _ = span
        return self._data[:value] + self._data[end:]

    def write(self) -> bytes:
        """Preamble (zeros), prefix, File Meta with its group length recomputed, data set."""
        meta, dataset = self.meta, self.dataset
        self._check_meta()
        sop_class = dataset.text(_SOP_CLASS_UID)
        if sop_class and sop_class != meta.text(_MEDIA_STORAGE_SOP_CLASS_UID):
            raise Unsupported("a File Meta that pydicom would rewrite")
        meta.drop(_GROUP_LENGTH)
        body = meta.encoded()
        group_length = _SHORT_HEADER.pack(2, 0, b"UL", 4) + UINT32.pack(len(body))
        return b"".join((b"\x00" * 128, b"DICM", group_length, body, dataset.encoded()))
