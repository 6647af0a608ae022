"""Single frames of an instance as native little-endian bytes, the form WADO-RS frames take.

Uncompressed little-endian pixel data is read in place: a frame of a 512x512 CT is one ranged
read of its 512 KiB at an offset learned from the header, never a decode or a read of the whole
file. Everything else (compressed, big endian, deflated, bit-packed) is decoded with pydicom.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging import header
from imagehub.core.imaging.dicom import frame_bits, read_dataset
from imagehub.core.imaging.pixels import decoding
from imagehub.core.imaging.qido import InvalidQuery
from imagehub.core.imaging.sniff import sniff
from imagehub.core.imaging.sources import Source, open_source

PIXEL_DATA = 0x7FE00010
_PIXEL_TAGS = {PIXEL_DATA: "", 0x7FE00008: "OF", 0x7FE00009: "OD"}  # tag -> VR when implicit
_BINARY_VRS = frozenset({b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"})
_IN_PLACE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian})
_UNDEFINED_LENGTH = 0xFFFFFFFF
_FRAME_LIST = re.compile(r"^\d+(,\d+)*\Z")


@dataclass(frozen=True)
class PixelLayout:
    """What the header says about an instance's pixel data."""

    tag: int
    vr: str
    frames: int
    frame_length: int | None  # bytes of one native frame; None when frames are not whole bytes
    offset: int | None  # where frame 0 starts in the file, when frames can be read in place
    encapsulated: bool = False  # compressed: the value is a fragment per frame, not one run of bytes

    def frame_range(self, index: int) -> tuple[int, int] | None:
        """The file's byte range ``[start, end)`` of frame ``index`` (0-based), if it is in place."""
        if self.offset is None or self.frame_length is None:
            return None
        start = self.offset + index * self.frame_length
        return start, start + self.frame_length

    def value_range(self) -> tuple[int, int] | None:
        """The file's byte range of every frame, if they are in place."""
        first, last = self.frame_range(0), self.frame_range(self.frames - 1)
        return (first[0], last[1]) if first and last else None


MAX_FRAMES_PER_REQUEST = 10_000


def parse_frame_list(text: str) -> list[int]:
    """``1,3,5``: frame numbers as WADO-RS counts them, from 1."""
    numbers = [int(n) for n in text.split(",")] if _FRAME_LIST.match(text) else []
    if not numbers or min(numbers) < 1:
        raise InvalidQuery(f"frame list {text!r} must be frame numbers from 1, separated by commas")
    if len(numbers) > MAX_FRAMES_PER_REQUEST:
        raise InvalidQuery(f"at most {MAX_FRAMES_PER_REQUEST} frames per request")
    if len(set(numbers)) != len(numbers):  # each repeat would be decoded and sent again
        raise InvalidQuery(f"frame list {text[:100]!r} names a frame more than once")
    return numbers


def read_header(stream: BinaryIO, name: str) -> tuple[Dataset, PixelLayout | None]:
    """The header without pixel data, and where that pixel data is (``None`` when there is none).
    ``stream`` is left where the header ends."""
    with decoding(name):
        kind = sniff(stream)
        if kind not in ("dicom", "dicom-raw"):
            raise InvalidInput(f"{name} is not a DICOM instance")
        ds = read_dataset(stream, force=kind == "dicom-raw")
        return ds, _layout(ds, stream)


def _layout(ds: Dataset, stream: BinaryIO) -> PixelLayout | None:
    syntax = UID(ds.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian)
    frames = header.integer(ds, "NumberOfFrames") or 1
    bits = frame_bits(ds)
    length = bits // 8 if bits and bits % 8 == 0 else None
    default_vr = "OB" if (header.integer(ds, "BitsAllocated") or 8) <= 8 else "OW"
    if syntax.is_deflated:  # the stream was inflated elsewhere: positions in it say nothing
        return PixelLayout(PIXEL_DATA, default_vr, frames, length, None) if bits else None
    here = stream.tell()
    head = stream.read(12)
    stream.seek(here)
    if len(head) < 8:
        return None
    order = "<" if syntax.is_little_endian else ">"
    group, element = struct.unpack(f"{order}HH", head[:4])
    tag = group << 16 | element
    if tag not in _PIXEL_TAGS:
        return None
    # Explicit or implicit VR is judged from the bytes, as pydicom does: some files declare
    # explicit VR and write implicit.
    explicit = head[4:6] in _BINARY_VRS and len(head) == 12
    vr = head[4:6].decode() if explicit else _PIXEL_TAGS[tag] or default_vr
    (value_length,) = struct.unpack(f"{order}I", head[8:12] if explicit else head[4:8])
    start = here + (12 if explicit else 8)
    in_place = (
        syntax in _IN_PLACE
        and length is not None
        and value_length != _UNDEFINED_LENGTH
        and value_length >= frames * length
    )
    return PixelLayout(tag, vr, frames, length, start if in_place else None, syntax.is_encapsulated)


def decode_frames(source: Source, name: str, indices: Sequence[int]) -> list[bytes]:
    """Native little-endian bytes of frames (0-based) that cannot be read in place. Stored bits
    stay as they are: Rows x Columns x Samples x BitsAllocated / 8 bytes per frame."""
    with open_source(source) as stream, decoding(name):
        kind = sniff(stream)
        ds = read_dataset(stream, force=kind == "dicom-raw", pixels=True)
        syntax = UID(ds.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian)
        allocated = header.integer(ds, "BitsAllocated") or 8
        bits = frame_bits(ds)
        if not syntax.is_encapsulated and bits and bits % 8 == 0:
            data = native_value(ds, syntax, allocated)
            length = bits // 8
            return [data[i * length : (i + 1) * length] for i in indices]
        return [_array_bytes(pixel_array(ds, index=i), allocated) for i in indices]


def native_pixel_value(source: Source, name: str) -> bytes:
    """Every frame of a native (uncompressed) instance in little-endian words, as one value:
    what its BulkDataURI names when the frames cannot be read in place. Like a read in place,
    it leaves out the byte that pads an odd-length value."""
    with open_source(source) as stream, decoding(name):
        kind = sniff(stream)
        ds = read_dataset(stream, force=kind == "dicom-raw", pixels=True)
        syntax = UID(ds.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian)
        if syntax.is_encapsulated:
            raise InvalidInput(f"{name}: compressed pixel data is one value per frame")
        value = native_value(ds, syntax, header.integer(ds, "BitsAllocated") or 8)
        bits = frame_bits(ds)
        if bits is None or bits % 8:
            return value
        return value[: (header.integer(ds, "NumberOfFrames") or 1) * bits // 8]


def native_value(ds: Dataset, syntax: UID, allocated: int) -> bytes:
    """The pixel data value of a native data set read in ``syntax``, in little-endian words."""
    data, vr = _pixel_value(ds)
    return little_endian(data, _word_bytes(vr, allocated)) if syntax == ExplicitVRBigEndian else data


def compressed_frames(source: Source, name: str, indices: Sequence[int]) -> list[bytes]:
    """Frames (0-based) of encapsulated pixel data as stored: each frame's compressed bitstream."""
    with open_source(source) as stream, decoding(name):
        kind = sniff(stream)
        ds = read_dataset(stream, force=kind == "dicom-raw", pixels=True)
        if not UID(ds.file_meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian).is_encapsulated:
            raise InvalidInput(f"{name} is not compressed: it has no bitstream to send")
        count = header.integer(ds, "NumberOfFrames") or 1
        offsets = ds.get("ExtendedOffsetTable"), ds.get("ExtendedOffsetTableLengths")
        extended = (offsets[0], offsets[1]) if offsets[0] is not None and offsets[1] is not None else None
        data, _ = _pixel_value(ds)
        return [get_frame(data, i, number_of_frames=count, extended_offsets=extended) for i in indices]


def _pixel_value(ds: Dataset) -> tuple[bytes, str]:
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            return bytes(ds[keyword].value), str(ds[keyword].VR)
    raise InvalidInput("the instance has no pixel data")


def _word_bytes(vr: str, allocated: int) -> int:
    """How many bytes a big-endian file swapped together: samples, or the 16-bit words of OW
    even when the samples are bytes (8-bit data stored as OW)."""
    return max(allocated // 8, 2 if vr == "OW" else 1)


def little_endian(data: bytes, size: int) -> bytes:
    """Big-endian words of ``size`` bytes swapped into little-endian ones."""
    if size == 1:
        return data
    whole = len(data) - len(data) % size
    return np.frombuffer(data[:whole], dtype=f">u{size}").astype(f"<u{size}").tobytes() + data[whole:]


def _array_bytes(values: NDArray[Any], allocated: int) -> bytes:
    """Decoded values in BitsAllocated-wide little-endian samples (bit-packed when 1)."""
    if allocated == 1:
        return np.packbits(values.astype(bool).ravel(), bitorder="little").tobytes()
    return values.astype(f"<{values.dtype.kind}{allocated // 8}", copy=False).tobytes()
