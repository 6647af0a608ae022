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
from functools import cached_property

from pydicom import config
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.tag import BaseTag
from pydicom.uid import UID

from imagehub.core.deid.actions import STRING_VRS
from imagehub.core.deid.elements import known_vr, values
from imagehub.core.deid.level import Level
from imagehub.core.deid.report import encoded_summary

UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA, _CHARSET, _SOP_CLASS_UID = 0x7FE00010, 0x00080005, 0x00080016
_GROUP_LENGTH, _MEDIA_STORAGE_SOP_CLASS_UID, _TRANSFER_SYNTAX = 0x00020000, 0x00020002, 0x00020010
# File Meta that pydicom's writer requires to hold a value, or fills in itself when empty.
_META_REQUIRED = (0x00020001, _MEDIA_STORAGE_SOP_CLASS_UID, 0x00020003, _TRANSFER_SYNTAX, 0x00020012)
_IMPLEMENTATION_VERSION_NAME = 0x00020013  # added by pydicom's writer when absent
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"})
_SHORT_VRS = frozenset(
    {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH", "SL", "SS"}
    | {"ST", "TM", "UI", "UL", "US"}
)
_PLAIN_TEXT_VRS = STRING_VRS  # ASCII values of these encode as themselves in every character set
_BYTES_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_ASCII_DECODED = frozenset({"CS", "DA", "DT", "UI"})  # decoded without character sets, as pydicom does

_ITEM_HEADER = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_DELIMITER = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
_SEQUENCE_DELIMITER = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
_TAG = struct.Struct("<HH")
_UINT16 = struct.Struct("<H")
_UINT32 = struct.Struct("<L")
_IMPLICIT_HEADER = struct.Struct("<HHL")
_SHORT_HEADER = struct.Struct("<HH2sH")
_LONG_HEADER = struct.Struct("<HH2sHL")


# Where one element lies: (VR as stored, or None for implicit VR until a sequence is
# recognised; element start; value start; value end, for undefined length where the closing
# delimiter starts; element end; whether the length is undefined). A plain tuple: a header
# has hundreds of elements and this is the hot path.
Span = tuple[str | None, int, int, int, int, bool]


class Unsupported(Exception):
    """An encoding this module leaves to pydicom: the caller de-identifies the file there."""


def _plain(raw: bytes, *, uid: bool = False) -> str | list[str]:
    """A value of codes, UIDs or dates, decoded as pydicom does: default encoding, trailing
    padding gone, split on backslashes; each UID stripped of whitespace, as ``UID()`` does."""
    parts = raw.decode("latin-1").rstrip(" \x00").split("\\")
    if uid:
        parts = [part.strip() for part in parts]
    return parts[0] if len(parts) == 1 else parts


def _vr_at(data: bytes, pos: int, implicit: bool) -> tuple[str | None, int, int]:
    """(VR as stored or None, value length, value start) of the element at ``pos``."""
    if implicit:
        return None, _UINT32.unpack_from(data, pos + 4)[0], pos + 8
    vr = data[pos + 4 : pos + 6].decode("latin-1")
    if vr in _LONG_VRS:
        return vr, _UINT32.unpack_from(data, pos + 8)[0], pos + 12
    if vr in _SHORT_VRS:
        return vr, _UINT16.unpack_from(data, pos + 6)[0], pos + 8
    raise Unsupported(f"unknown VR {vr!r}")


def _skip_fragments(data: bytes, pos: int) -> int:
    """The end of encapsulated pixel data: an offset table item, fragments of defined length,
    the delimiter (pydicom's writer refuses pixel data without the offset table item)."""
    if data[pos : pos + 4] != b"\xfe\xff\x00\xe0":
        raise Unsupported("encapsulated pixel data without its offset table item")
    while True:
        if pos + 8 > len(data):
            raise Unsupported("encapsulated pixel data without its delimiter")
        tag = _TAG.unpack_from(data, pos)
        length = _UINT32.unpack_from(data, pos + 4)[0]
        if tag == (0xFFFE, 0xE0DD):
            return pos + 8
        if tag != (0xFFFE, 0xE000) or length == UNDEFINED:
            raise Unsupported("malformed encapsulated pixel data")
        pos += 8 + length


class EncodedLevel:
    """A data set or item as spans of the original bytes, plus what the walker changed."""

    def __init__(
        self, data: bytes, start: int, end: int, implicit: bool, parent: EncodedLevel | None = None
    ) -> None:
        self._data, self._implicit, self._parent = data, implicit, parent
        self._spans: dict[int, Span] = {}
        self._order: list[int] = []
        self._changed: dict[int, bytes | None] = {}  # the new element, or None when dropped
        self._put: dict[int, object] = {}
        self._items: dict[int, list[EncodedLevel]] = {}
        self._inserted = False
        self.end = self._parse(start, end)

    def _parse(self, pos: int, end: int) -> int:
        data, implicit, previous = self._data, self._implicit, -1
        while pos < end:
            if pos + 8 > end:
                raise Unsupported("truncated element header")
            group, element = _TAG.unpack_from(data, pos)
            tag = group << 16 | element
            if tag == _ITEM_END:
                return pos + 8
            if group == 0xFFFE:
                raise Unsupported("an item or delimiter where an element belongs")
            if tag <= previous:
                raise Unsupported("elements out of tag order")
            if tag == _CHARSET and self._items:
                # pydicom has decoded the sequences before it in the default character set
                raise Unsupported("a sequence before the character set")
            previous = tag
            vr, length, value = _vr_at(data, pos, implicit)
            if length != UNDEFINED:
                if value + length > end:
                    raise Unsupported("an element runs past its end")
                span: Span = (vr, pos, value, value + length, value + length, False)
            else:
                vr, after = self._undefined(tag, vr, value, end)
                span = (vr, pos, value, after - 8, after, True)
            self._spans[tag] = span
            self._order.append(tag)
            pos = span[4]
        return pos

    def _undefined(self, tag: int, vr: str | None, value: int, end: int) -> tuple[str | None, int]:
        """(VR as pydicom records it, element end) of an element of undefined length."""
        if vr is None:  # implicit VR: the dictionary, or a look at whether items follow
            vr = known_vr(tag)
            if vr is None and _TAG.unpack_from(self._data, value) == (0xFFFE, 0xE000):
                vr = "SQ"
        if vr == "SQ":
            items, after = self._read_items(value, end, undefined=True)
            self._items[tag] = items
            return vr, after
        if tag == _PIXEL_DATA:
            return vr, _skip_fragments(self._data, value)
        raise Unsupported("undefined length on an element that is neither a sequence nor pixel data")

    def _read_items(self, pos: int, end: int, *, undefined: bool) -> tuple[list[EncodedLevel], int]:
        items: list[EncodedLevel] = []
        while pos < end:
            if pos + 8 > end:
                raise Unsupported("truncated sequence")
            tag = _TAG.unpack_from(self._data, pos)
            length = _UINT32.unpack_from(self._data, pos + 4)[0]
            if tag == (0xFFFE, 0xE0DD):
                return items, pos + 8
            if tag != (0xFFFE, 0xE000):
                raise Unsupported("a sequence holds something other than items")
            item_end = end if length == UNDEFINED else pos + 8 + length
            if item_end > end:
                raise Unsupported("an item runs past the end of its sequence")
            item = EncodedLevel(self._data, pos + 8, item_end, self._implicit, self)
            if length != UNDEFINED and item.end != item_end:
                raise Unsupported("an item ends before its length")
            items.append(item)
            pos = item.end
        if undefined:
            raise Unsupported("a sequence of undefined length without its delimiter")
        return items, pos

    # -- what the walker asks ------------------------------------------------------------

    @property
    def encoding(self) -> tuple[bool, bool]:
        return self._implicit, True

    @cached_property
    def charsets(self) -> list[str] | None:
        """The level's character sets: its own Specific Character Set, else its parent's."""
        if _CHARSET in self._spans:  # pydicom decodes it in the default encoding, whatever its VR
            _, _, start, end, _, _ = self._spans[_CHARSET]
            return convert_encodings(_plain(self._data[start:end]))
        return self._parent.charsets if self._parent is not None else None

    def tags(self) -> list[int]:
        return list(self._order)

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
        _, _, value, value_end, _, _ = self._spans[tag]
        return encoded_summary(vr, self._data[value:value_end])

    def values(self, tag: int) -> list[object]:
        return values(self._current(tag))

    def items(self, tag: int) -> list[Level]:
        if tag not in self._items:
            _, _, value, value_end, _, _ = self._spans[tag]
            self._items[tag] = self._read_items(value, value_end, undefined=False)[0]
        return list(self._items[tag])

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
        return self._put[tag] if tag in self._put else self._decoded(tag)

    def _decoded(self, tag: int) -> object:
        """Codes, UIDs and dates decoded here, as pydicom does; the rest by pydicom itself."""
        vr, _, start, end, _, _ = self._spans[tag]
        raw = self._data[start:end]
        effective = vr or known_vr(tag)
        if effective in _ASCII_DECODED and vr != "UN":
            return _plain(raw, uid=effective == "UI")
        element = RawDataElement(BaseTag(tag), vr, len(raw), raw, 0, self._implicit, True)
        return convert_raw_data_element(element, encoding=self.charsets).value

    def _header(self, tag: int, vr: str, length: int) -> bytes:
        if self._implicit:
            return _IMPLICIT_HEADER.pack(tag >> 16, tag & 0xFFFF, length)
        if vr in _LONG_VRS:
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

    def span(self, tag: int) -> Span | None:
        return self._spans.get(tag)


def _looks_explicit(data: bytes, pos: int) -> bool:
    """pydicom's test of the first element: two capital letters where a VR would be."""
    vr = data[pos + 4 : pos + 6]
    return len(vr) == 2 and all(0x40 < byte < 0x5B for byte in vr)


def _meta_end(data: bytes) -> int:
    """Where the File Meta group (explicit VR little endian, group 2) ends."""
    pos = 132
    while pos + 8 <= len(data) and _TAG.unpack_from(data, pos)[0] == 2:
        _, length, value = _vr_at(data, pos, implicit=False)
        if length == UNDEFINED:
            raise Unsupported("File Meta element of undefined length")
        pos = value + length
    return pos


class EncodedFile:
    """A Part 10 file cut into its File Meta and its data set, written back after the walk."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 132 or data[128:132] != b"DICM":
            raise Unsupported("no preamble and DICM prefix")
        meta_end = _meta_end(data)
        self._data = data
        self.meta = EncodedLevel(data, 132, meta_end, implicit=False)
        syntax = UID(self.meta.text(_TRANSFER_SYNTAX))
        if not syntax.is_transfer_syntax or not syntax.is_little_endian or syntax.is_deflated:
            raise Unsupported(f"transfer syntax {syntax or 'missing'}")
        self._check_meta()
        if any((span[3] - span[2]) % 2 for span in map(self.meta.span, self.meta.tags()) if span):
            raise Unsupported("an odd-length File Meta value, which pydicom pads")
        if syntax.is_implicit_VR and _looks_explicit(data, meta_end):
            raise Unsupported("explicit VR data under an implicit VR transfer syntax")
        self.dataset = EncodedLevel(data, meta_end, len(data), syntax.is_implicit_VR)
        if self.dataset.end != len(data):
            raise Unsupported("an item delimiter in the top-level data set")
        if any(tag >> 16 in (0, 2) for tag in self.dataset.tags()):
            raise Unsupported("command or File Meta elements in the data set")
        pixels = self.dataset.span(_PIXEL_DATA)
        if pixels is not None and pixels[5] != syntax.is_compressed:  # undefined length
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
        span = self.dataset.span(_PIXEL_DATA)
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
        group_length = _SHORT_HEADER.pack(2, 0, b"UL", 4) + _UINT32.pack(len(body))
        return b"".join((b"\x00" * 128, b"DICM", group_length, body, dataset.encoded()))
