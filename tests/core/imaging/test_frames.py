"""Frames as WADO-RS serves them, against what pydicom reads and decodes for the same frame."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging.frames import decode_frames, native_pixel_value, parse_frame_list, read_header
from imagehub.core.imaging.qido import InvalidQuery
from tests.support.dicom_files import pydicom_file

NATIVE_IN_PLACE = [
    "CT_small.dcm",
    "MR_small_implicit.dcm",
    "rtdose.dcm",
    "liver_1frame.dcm",
    "SC_rgb_small_odd.dcm",
]
NATIVE_DECODED = [
    "MR_small_bigendian.dcm",
    "SC_rgb_small_odd_big_endian.dcm",  # 8-bit samples in OW words, swapped in pairs
    "rtdose_expb.dcm",
    "image_dfl.dcm",  # deflated
]
DECODED = [
    *NATIVE_DECODED,
    "JPGExtended.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "SC_rgb_rle_2frame.dcm",
    "rtdose_rle.dcm",
    "examples_ybr_color.dcm",  # JPEG baseline YBR_FULL_422, 30 frames: decoded to RGB
]


def expected(ds: pydicom.Dataset, index: int) -> bytes:
    """pydicom's view of one frame in native little-endian samples of BitsAllocated bits."""
    values = ds.pixel_array if int(ds.get("NumberOfFrames") or 1) == 1 else ds.pixel_array[index]
    if ds.BitsAllocated == 1:
        return np.packbits(values.astype(bool).ravel(), bitorder="little").tobytes()
    return values.astype(f"<{values.dtype.kind}{ds.BitsAllocated // 8}").tobytes()


@pytest.mark.parametrize("name", NATIVE_IN_PLACE)
def test_native_little_endian_frames_are_read_in_place(name: str) -> None:
    data = pydicom_file(name).read_bytes()
    ds = pydicom.dcmread(io.BytesIO(data))
    _, layout = read_header(io.BytesIO(data), name)
    assert layout is not None
    assert layout.frame_length is not None
    length = layout.frame_length  # the value may carry a padding byte after the last frame
    for index in {0, layout.frames - 1}:
        span = layout.frame_range(index)
        assert span is not None
        assert data[span[0] : span[1]] == ds.PixelData[index * length : (index + 1) * length]
        assert decode_frames(io.BytesIO(data), name, [index]) == [data[span[0] : span[1]]]
    if ds.BitsAllocated > 1:
        assert data[slice(*layout.frame_range(0) or (0, 0))] == expected(ds, 0)


@pytest.mark.parametrize("name", DECODED)
def test_other_encodings_are_decoded_to_native_little_endian(name: str) -> None:
    data = pydicom_file(name).read_bytes()
    ds = pydicom.dcmread(io.BytesIO(data))
    _, layout = read_header(io.BytesIO(data), name)
    assert layout is not None
    assert layout.frame_range(0) is None
    last = layout.frames - 1
    frames = decode_frames(io.BytesIO(data), name, [0, last])
    assert frames == [expected(ds, 0), expected(ds, last)]
    assert len(frames[0]) == ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8


@pytest.mark.parametrize("name", NATIVE_DECODED)
def test_a_native_pixel_value_is_every_frame_in_little_endian_words(name: str) -> None:
    data = pydicom_file(name).read_bytes()
    ds = pydicom.dcmread(io.BytesIO(data))
    frames = range(int(ds.get("NumberOfFrames") or 1))
    assert native_pixel_value(io.BytesIO(data), name) == b"".join(expected(ds, i) for i in frames)


def test_compressed_pixel_data_is_no_single_value() -> None:
    with pytest.raises(InvalidInput, match="one value per frame"):
        native_pixel_value(io.BytesIO(pydicom_file("JPGExtended.dcm").read_bytes()), "JPGExtended.dcm")


def test_a_file_without_pixel_data_has_no_layout() -> None:
    data = pydicom_file("rtplan.dcm").read_bytes()
    assert read_header(io.BytesIO(data), "rtplan.dcm")[1] is None


@pytest.mark.parametrize("text", ["", "0", "1,0", "00", "0,01", "a", "1;2", "-1", "1,,2"])
def test_frame_lists_are_numbers_from_one(text: str) -> None:
    with pytest.raises(InvalidQuery, match="frame numbers from 1"):
        parse_frame_list(text)
    assert parse_frame_list("3,1,20") == [3, 1, 20]


def test_a_frame_list_names_each_frame_once() -> None:
    """Repeats would each be decoded and sent: a 14 KB URL asked for 900 MB of one frame."""
    with pytest.raises(InvalidQuery, match="more than once"):
        parse_frame_list(",".join(["1"] * 7000))
