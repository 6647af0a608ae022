"""Whether compressed (encapsulated) pixel data is whole, from its item headers alone.

Native pixel data has a length the header predicts; compressed data does not, so a cut-off
JPEG, JPEG 2000 or RLE file reads like a complete one until a decoder fails on it much
later. Its items still say where each one ends, and the sequence must close with a
delimiter: walking the 8-byte item headers (one read per fragment, never the pixels)
finds a file that ends early.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

ReadAt = Callable[[int, int], bytes]  # (offset, count) -> bytes; fewer only at the file's end

_PIXEL_DATA_ELEMENT = struct.Struct("<HH2s2sI")  # explicit VR little endian: tag, VR, reserved, length
_ITEM_HEADER = struct.Struct("<HHI")
_ITEM = (0xFFFE, 0xE000)
_SEQUENCE_END = (0xFFFE, 0xE0DD)
_UNDEFINED_LENGTH = 0xFFFFFFFF
CUT_OFF = "truncated DICOM: the compressed pixel data is cut off"


def encapsulated_damage(read_at: ReadAt, element_at: int, size: int, frames: int) -> str | None:
    """What is wrong with the compressed pixel data whose element starts at ``element_at`` in
    a file of ``size`` bytes, or None when its items are whole: each fits in the file, the
    sequence ends with its delimiter, and it holds a fragment for every frame (after the
    basic offset table). Pixel data of defined length is not encapsulated: nothing to say."""
    element = read_at(element_at, _PIXEL_DATA_ELEMENT.size)
    if len(element) < _PIXEL_DATA_ELEMENT.size:
        return CUT_OFF
    *_, length = _PIXEL_DATA_ELEMENT.unpack(element)
    if length != _UNDEFINED_LENGTH:
        return None
    position = element_at + _PIXEL_DATA_ELEMENT.size
    items = 0
    while True:
        header = read_at(position, _ITEM_HEADER.size)
        if len(header) < _ITEM_HEADER.size:
            return CUT_OFF
        group, number, length = _ITEM_HEADER.unpack(header)
        if (group, number) == _SEQUENCE_END:
            break
        if (group, number) != _ITEM or length == _UNDEFINED_LENGTH:
            return "corrupt DICOM: the compressed pixel data is not a sequence of items"
        position += _ITEM_HEADER.size + length
        if position > size:
            return CUT_OFF
        items += 1
    fragments = max(items - 1, 0)
    if fragments < frames:
        return f"truncated DICOM: compressed pixel data for {fragments} of {frames} frames"
    return None
