"""Whether compressed (encapsulated) pixel data is whole, from its item headers alone.

Native pixel data has a length the header predicts; compressed data does not, so a cut-off
JPEG, JPEG 2000 or RLE file reads like a complete one until a decoder fails on it much
later. Its items still say where each one ends, and the sequence must close with a
delimiter. A file that ends with that delimiter is taken as whole after one 8-byte read
(on object storage every read is a request); any other is walked item header by item
header (one read per fragment, never the pixels) to find where it ends early.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

ReadAt = Callable[[int, int], bytes]  # (offset, count) -> bytes; fewer only at the file's end

_PIXEL_DATA_ELEMENT = struct.Struct("<HH2s2sI")  # explicit VR little endian: tag, VR, reserved, length
_ITEM_HEADER = struct.Struct("<HHI")
_ITEM = (0xFFFE, 0xE000)
_SEQUENCE_END = (0xFFFE, 0xE0DD)
_UNDEFINED_LENGTH = 0xFFFFFFFF
_DELIMITER = _ITEM_HEADER.pack(*_SEQUENCE_END, 0)
CUT_OFF = "truncated DICOM: the compressed pixel data is cut off"


def stream_reader(stream: BinaryIO, start: int = 0) -> ReadAt:
    """Reads of a file that begins at ``start`` in ``stream`` (the caller restores its position)."""

    def read_at(offset: int, count: int) -> bytes:
        stream.seek(start + offset)
        return stream.read(count)

    return read_at


def encapsulated_damage(read_at: ReadAt, element_at: int, size: int) -> str | None:
    """What is wrong with the compressed pixel data whose element starts at ``element_at`` in
    a file of ``size`` bytes, or None when its items are whole: each fits in the file and the
    sequence ends with its delimiter. Pixel data of defined length is not encapsulated."""
    if (
        size - element_at > _PIXEL_DATA_ELEMENT.size
        and read_at(size - len(_DELIMITER), len(_DELIMITER)) == _DELIMITER
    ):
        return None  # ends as a whole sequence does (trailing padding, if any, is walked)
    element = read_at(element_at, _PIXEL_DATA_ELEMENT.size)
    if len(element) < _PIXEL_DATA_ELEMENT.size:
        return CUT_OFF
    *_, length = _PIXEL_DATA_ELEMENT.unpack(element)
    if length != _UNDEFINED_LENGTH:
        return None
    position = element_at + _PIXEL_DATA_ELEMENT.size
    while True:
        header = read_at(position, _ITEM_HEADER.size)
        if len(header) < _ITEM_HEADER.size:
            return CUT_OFF
        group, number, length = _ITEM_HEADER.unpack(header)
        if (group, number) == _SEQUENCE_END:
            return None
        if (group, number) != _ITEM or length == _UNDEFINED_LENGTH:
            return "corrupt DICOM: the compressed pixel data is not a sequence of items"
        position += _ITEM_HEADER.size + length
        if position > size:
            return CUT_OFF
