"""A Part 10 file cut into element spans, without building pydicom's model of it.

pydicom creates an object for every element it reads, most of the time of reading a
header of a few hundred elements. Here a file's bytes are cut once into (tag → where the
element lies) maps, one per data set or sequence item, and values are decoded only when
asked for. Metadata extraction (``dicom.metadata_from_spans``) and byte-level
de-identification (``deid.encoded``) both stand on it.

Anything this cutter would not read exactly as pydicom does (big endian, deflated data,
no preamble, elements out of tag order or past the end, explicit VR data under an implicit
VR syntax) raises ``Unsupported``, and the caller takes pydicom's path instead.
"""

from __future__ import annotations

import struct
from functools import cache, cached_property
from typing import Generic, Self, TypeVar

from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.tag import BaseTag
from pydicom.uid import UID

UNDEFINED = 0xFFFFFFFF
ITEM_END = 0xFFFEE00D
PIXEL_DATA, CHARSET, TRANSFER_SYNTAX = 0x7FE00010, 0x00080005, 0x00020010
GROUP_LENGTH = 0x00020000
# Float, double float and integer pixel data: where a header ends.
PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"})
_SHORT_VRS = frozenset(
    {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH", "SL", "SS"}
    | {"ST", "TM", "UI", "UL", "US"}
)
_ASCII_DECODED = frozenset({"CS", "DA", "DT", "UI"})  # decoded without character sets, as pydicom does

TAG = struct.Struct("<HH")
UINT16 = struct.Struct("<H")
UINT32 = struct.Struct("<L")

# Where one element lies: (VR as stored, or None for implicit VR until a sequence is
# recognised; element start; value start; value end, for undefined length where the closing
# delimiter starts; element end; whether the length is undefined). A plain tuple: a header
# has hundreds of elements and this is the hot path.
Span = tuple[str | None, int, int, int, int, bool]


class Unsupported(Exception):
    """An encoding the cutter leaves to pydicom: the caller reads the file there."""


@cache
def known_vr(tag: int) -> str | None:
    """The data dictionary's VR for a tag, or None when the dictionary does not know it."""
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def plain(raw: bytes, *, uid: bool = False) -> str | list[str]:
    """A value of codes, UIDs or dates, decoded as pydicom does: default encoding, trailing
    padding gone, split on backslashes; each UID stripped of whitespace, as ``UID()`` does."""
    parts = raw.decode("latin-1").rstrip(" \x00").split("\\")
    if uid:
        parts = [part.strip() for part in parts]
    return parts[0] if len(parts) == 1 else parts


def _vr_at(data: bytes, pos: int, implicit: bool) -> tuple[str | None, int, int]:
    """(VR as stored or None, value length, value start) of the element at ``pos``."""
    if implicit:
        return None, UINT32.unpack_from(data, pos + 4)[0], pos + 8
    vr = data[pos + 4 : pos + 6].decode("latin-1")
    if vr in LONG_VRS:
        return vr, UINT32.unpack_from(data, pos + 8)[0], pos + 12
    if vr in _SHORT_VRS:
        return vr, UINT16.unpack_from(data, pos + 6)[0], pos + 8
    raise Unsupported(f"unknown VR {vr!r}")


def _skip_fragments(data: bytes, pos: int) -> int:
    """The end of encapsulated pixel data: an offset table item, fragments of defined length,
    the delimiter (pydicom's writer refuses pixel data without the offset table item)."""
    if data[pos : pos + 4] != b"\xfe\xff\x00\xe0":
        raise Unsupported("encapsulated pixel data without its offset table item")
    while True:
        if pos + 8 > len(data):
            raise Unsupported("encapsulated pixel data without its delimiter")
        tag = TAG.unpack_from(data, pos)
        length = UINT32.unpack_from(data, pos + 4)[0]
        if tag == (0xFFFE, 0xE0DD):
            return pos + 8
        if tag != (0xFFFE, 0xE000) or length == UNDEFINED:
            raise Unsupported("malformed encapsulated pixel data")
        pos += 8 + length


class SpanLevel:
    """A data set or sequence item as spans of the file's bytes.

    With ``stop_at_pixels`` the top level ends where its pixel data begins, as pydicom's
    partial reads do, so a file's head is enough to read its header.
    """

    def __init__(
        self,
        data: bytes,
        start: int,
        end: int,
        implicit: bool,
        parent: Self | None = None,
        *,
        stop_at_pixels: bool = False,
    ) -> None:
        self._data, self._implicit, self._parent = data, implicit, parent
        self._spans: dict[int, Span] = {}
        self._order: list[int] = []
        self._items: dict[int, list[Self]] = {}  # sequences read so far
        self.pixels_at: int | None = None  # where the pixel data element starts, when stopped there
        self.end = self._parse(start, end, stop_at_pixels)

    def _parse(self, pos: int, end: int, stop_at_pixels: bool) -> int:
        data, implicit, previous = self._data, self._implicit, -1
        while pos < end:
            if pos + 8 > end:
                raise Unsupported("truncated element header")
            group, element = TAG.unpack_from(data, pos)
            tag = group << 16 | element
            if tag == ITEM_END:
                return pos + 8
            if group == 0xFFFE:
                raise Unsupported("an item or delimiter where an element belongs")
            if tag <= previous:
                raise Unsupported("elements out of tag order")
            if tag == CHARSET and self._items:
                # pydicom has decoded the sequences before it in the default character set
                raise Unsupported("a sequence before the character set")
            if stop_at_pixels and tag in PIXEL_DATA_TAGS:
                self.pixels_at = pos
                return pos
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

    def _undefined(self: Self, tag: int, vr: str | None, value: int, end: int) -> tuple[str | None, int]:
        """(VR as pydicom records it, element end) of an element of undefined length."""
        if vr is None:  # implicit VR: the dictionary, or a look at whether items follow
            vr = known_vr(tag)
            if vr is None and TAG.unpack_from(self._data, value) == (0xFFFE, 0xE000):
                vr = "SQ"
        if vr == "SQ":
            self._items[tag], after = self._read_items(value, end, undefined=True)
            return vr, after
        if tag == PIXEL_DATA:
            return vr, _skip_fragments(self._data, value)
        raise Unsupported("undefined length on an element that is neither a sequence nor pixel data")

    def _read_items(self, pos: int, end: int, *, undefined: bool) -> tuple[list[Self], int]:
        items: list[Self] = []
        while pos < end:
            if pos + 8 > end:
                raise Unsupported("truncated sequence")
            tag = TAG.unpack_from(self._data, pos)
            length = UINT32.unpack_from(self._data, pos + 4)[0]
            if tag == (0xFFFE, 0xE0DD):
                return items, pos + 8
            if tag != (0xFFFE, 0xE000):
                raise Unsupported("a sequence holds something other than items")
            item_end = end if length == UNDEFINED else pos + 8 + length
            if item_end > end:
                raise Unsupported("an item runs past the end of its sequence")
            item = type(self)(self._data, pos + 8, item_end, self._implicit, self)
            if length != UNDEFINED and item.end != item_end:
                raise Unsupported("an item ends before its length")
            items.append(item)
            pos = item.end
        if undefined:
            raise Unsupported("a sequence of undefined length without its delimiter")
        return items, pos

    # -- reading -------------------------------------------------------------------------

    @property
    def implicit(self) -> bool:
        return self._implicit

    @cached_property
    def charsets(self) -> list[str] | None:
        """The level's character sets: its own Specific Character Set, else its parent's."""
        if CHARSET in self._spans:  # pydicom decodes it in the default encoding, whatever its VR
            return convert_encodings(plain(self.raw(CHARSET)))
        return self._parent.charsets if self._parent is not None else None

    def tags(self) -> list[int]:
        return list(self._order)

    def span(self, tag: int) -> Span | None:
        return self._spans.get(tag)

    def raw(self, tag: int) -> bytes:
        """The value's bytes as stored (without padding removed)."""
        _, _, start, end, _, _ = self._spans[tag]
        return self._data[start:end]

    def stored_vr(self, tag: int) -> str | None:
        """The VR as stored; None for implicit VR data (sequences excepted)."""
        return self._spans[tag][0]

    def sequence(self, tag: int) -> list[Self]:
        if tag not in self._items:
            _, _, value, value_end, _, _ = self._spans[tag]
            self._items[tag] = self._read_items(value, value_end, undefined=False)[0]
        return list(self._items[tag])

    def decoded(self, tag: int) -> object:
        """The stored value as pydicom decodes it: codes, UIDs and dates here, the rest by
        pydicom's own element codecs."""
        vr = self._spans[tag][0]
        raw = self.raw(tag)
        effective = vr or known_vr(tag)
        if effective in _ASCII_DECODED and vr != "UN":
            return plain(raw, uid=effective == "UI")
        element = RawDataElement(BaseTag(tag), vr, len(raw), raw, 0, self._implicit, True)
        return convert_raw_data_element(element, encoding=self.charsets).value


def _looks_explicit(data: bytes, pos: int) -> bool:
    """pydicom's test of the first element: two capital letters where a VR would be."""
    vr = data[pos + 4 : pos + 6]
    return len(vr) == 2 and all(0x40 < byte < 0x5B for byte in vr)


def _meta_end(data: bytes) -> int:
    """Where the File Meta group (explicit VR little endian, group 2) ends."""
    pos = 132
    while pos + 8 <= len(data) and TAG.unpack_from(data, pos)[0] == 2:
        _, length, value = _vr_at(data, pos, implicit=False)
        if length == UNDEFINED:
            raise Unsupported("File Meta element of undefined length")
        pos = value + length
    return pos


L = TypeVar("L", bound=SpanLevel)


class SpanFile(Generic[L]):
    """A Part 10 file cut into its File Meta and its data set, each a level of ``level``.

    With ``stop_at_pixels`` the data set ends where its pixel data begins, and ``data``
    may be only the file's head.
    """

    def __init__(self, data: bytes, level: type[L], *, stop_at_pixels: bool = False) -> None:
        if len(data) < 132 or data[128:132] != b"DICM":
            raise Unsupported("no preamble and DICM prefix")
        meta_end = _meta_end(data)
        self._data = data
        self.meta = level(data, 132, meta_end, implicit=False)
        if self.meta.span(TRANSFER_SYNTAX) is None or self.meta.stored_vr(TRANSFER_SYNTAX) != "UI":
            raise Unsupported("no transfer syntax (a UI) in the File Meta")
        group_length = self.meta.span(GROUP_LENGTH)
        if group_length is not None and (group_length[0] != "UL" or group_length[3] - group_length[2] != 4):
            raise Unsupported("a File Meta group length that is not one UL")
        declared = plain(self.meta.raw(TRANSFER_SYNTAX), uid=True)
        if not isinstance(declared, str):
            raise Unsupported("a multi-valued transfer syntax")
        self.syntax = UID(declared)
        if not self.syntax.is_transfer_syntax or not self.syntax.is_little_endian or self.syntax.is_deflated:
            raise Unsupported(f"transfer syntax {self.syntax or 'missing'}")
        if self.syntax.is_implicit_VR and _looks_explicit(data, meta_end):
            raise Unsupported("explicit VR data under an implicit VR transfer syntax")
        self.dataset = level(
            data, meta_end, len(data), self.syntax.is_implicit_VR, stop_at_pixels=stop_at_pixels
        )
        if self.dataset.end != len(data) and self.dataset.pixels_at is None:
            raise Unsupported("an item delimiter in the top-level data set")
