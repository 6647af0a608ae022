"""Instances re-encoded as Explicit VR Little Endian, and frames as their stored bitstreams."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging.frames import compressed_frames
from imagehub.core.imaging.transcode import EXPLICIT_LITTLE_ENDIAN, decodable, explicit_little_endian
from tests.support.dicom_files import pydicom_file

STORED = [
    "CT_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "rtdose_expb.dcm",  # big endian, 32-bit samples in OW
    "SC_rgb_small_odd_big_endian.dcm",  # 8-bit samples in OW words
    "ExplVR_BigEndNoMeta.dcm",  # no file meta information
    "image_dfl.dcm",  # deflated
    "JPGExtended.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",  # YBR: comes out RGB
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "SC_rgb_rle_2frame.dcm",
    "rtstruct.dcm",  # no pixel data
]


@pytest.mark.parametrize("name", STORED)
def test_any_stored_instance_becomes_explicit_vr_little_endian(name: str) -> None:
    original = pydicom.dcmread(pydicom_file(name), force=True)
    made = pydicom.dcmread(
        io.BytesIO(explicit_little_endian(io.BytesIO(pydicom_file(name).read_bytes()), name))
    )
    assert made.file_meta.TransferSyntaxUID == EXPLICIT_LITTLE_ENDIAN
    assert made.SOPInstanceUID == made.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    if "PixelData" in original:
        assert np.array_equal(made.pixel_array, original.pixel_array)
    kept = [e.tag for e in original if e.tag.group != 0x7FE0 and e.keyword != "DataSetTrailingPadding"]
    changed = {"PhotometricInterpretation", "PlanarConfiguration"}  # decoded colour is RGB, interleaved
    assert [t for t in kept if made[t].keyword not in changed and made[t].value != original[t].value] == []


def test_only_syntaxes_a_decoder_reads_are_decodable() -> None:
    assert decodable("1.2.840.10008.1.2.4.50")
    assert decodable(EXPLICIT_LITTLE_ENDIAN)
    assert not decodable("1.2.840.10008.1.2.4.100")  # MPEG-2


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "SC_rgb_rle_2frame.dcm"])
def test_compressed_frames_are_their_bitstreams_as_stored(name: str) -> None:
    ds = pydicom.dcmread(pydicom_file(name))
    count = int(ds.get("NumberOfFrames") or 1)
    stored = list(generate_frames(ds.PixelData, number_of_frames=count))
    data = io.BytesIO(pydicom_file(name).read_bytes())
    assert compressed_frames(data, name, [count - 1, 0]) == [stored[-1], stored[0]]


def test_native_pixel_data_has_no_bitstream() -> None:
    with pytest.raises(InvalidInput, match="not compressed"):
        compressed_frames(io.BytesIO(pydicom_file("CT_small.dcm").read_bytes()), "ct", [0])
