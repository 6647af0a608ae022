"""Decoding every supported compression to the same values as the uncompressed reference,
the modality LUT, and the choice of display window."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging import Window, choose_window, decode_pixels, to_uint8
from imagehub.core.imaging.synthetic import ct_instance_bytes


def pydicom_file(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is missing"
    return Path(path)


@pytest.mark.parametrize(
    ("reference", "compressed"),
    [
        ("MR_small.dcm", "MR_small_RLE.dcm"),
        ("MR_small.dcm", "MR_small_jp2klossless.dcm"),
        ("MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm"),
        ("emri_small.dcm", "emri_small_RLE.dcm"),
        ("emri_small.dcm", "emri_small_jpeg_ls_lossless.dcm"),
        ("emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm"),
        ("US1_UNCR.dcm", "US1_J2KR.dcm"),
        ("SC_rgb_2frame.dcm", "SC_rgb_rle_2frame.dcm"),
    ],
)
def test_lossless_compression_decodes_to_the_reference(reference: str, compressed: str) -> None:
    expected = decode_pixels(pydicom_file(reference), reference)
    decoded = decode_pixels(pydicom_file(compressed), compressed)
    assert decoded.dataset.file_meta.TransferSyntaxUID.is_compressed
    assert decoded.values.shape == expected.values.shape
    np.testing.assert_array_equal(decoded.values, expected.values)
    assert decoded.values.std() > 0


def test_jpeg_baseline_is_close_to_the_reference() -> None:
    reference = decode_pixels(pydicom_file("SC_rgb.dcm"), "rgb").values.astype(float)
    decoded = decode_pixels(pydicom_file("SC_rgb_jpeg_dcmtk.dcm"), "jpeg")
    assert decoded.rgb
    assert decoded.values.shape == (1, 100, 100, 3)
    assert np.abs(decoded.values - reference).mean() < 2.0


def test_jpeg_lossless_decodes() -> None:
    frames = decode_pixels(pydicom_file("JPEG-LL.dcm"), "jpeg-ll")
    assert frames.values.shape == (1, 1024, 256)
    assert frames.values.std() > 0


def test_modality_lut_gives_hounsfield_units() -> None:
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    frames = decode_pixels(pydicom_file("CT_small.dcm"), "ct")
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(frames.values[0], expected)
    assert frames.modality == "CT"

    synthetic = decode_pixels(io.BytesIO(ct_instance_bytes(rows=64, columns=64)), "synthetic")
    assert synthetic.values.min() >= -1100  # air, not the stored value of 24
    assert synthetic.values.max() > 500  # bone


def test_one_frame_of_a_multiframe_instance() -> None:
    path = pydicom_file("emri_small_jpeg_2k_lossless.dcm")
    everything = decode_pixels(path, "emri")
    middle = decode_pixels(path, "emri", frame="middle")
    third = decode_pixels(path, "emri", frame=2)
    assert everything.values.shape == (10, 64, 64)
    np.testing.assert_array_equal(middle.values[0], everything.values[5])
    np.testing.assert_array_equal(third.values[0], everything.values[2])
    with pytest.raises(InvalidInput, match="no frame 10"):
        decode_pixels(path, "emri", frame=10)


def test_undecodable_pixels_raise_a_clear_error() -> None:
    # 12-bit JPEG Extended: no installed plugin decodes it.
    with pytest.raises(InvalidInput, match=r"cannot decode pixels of lossy\.dcm: Unable to decode") as raised:
        decode_pixels(pydicom_file("JPEG-lossy.dcm"), "lossy.dcm")
    assert "\n" not in str(raised.value)
    with pytest.raises(InvalidInput, match=r"notes\.txt is not a DICOM instance"):
        decode_pixels(io.BytesIO(b"plain text" * 50), "notes.txt")
    with pytest.raises(InvalidInput, match="has no pixel data"):
        decode_pixels(pydicom_file("rtplan.dcm"), "plan.dcm")


def test_window_choice() -> None:
    values = np.linspace(-1000, 1000, 10001)
    header = Window(center=40, width=400)
    assert choose_window(values, modality="CT", header_window=header) == header
    ct = choose_window(values, modality="CT")
    assert ct is not None
    assert (ct.low, ct.high) == pytest.approx(np.percentile(values, [0.5, 99.5]))
    mr = choose_window(values, modality="MR", header_window=header)
    assert mr is not None
    assert (mr.low, mr.high) == pytest.approx(np.percentile(values, [1, 99]))
    assert choose_window(np.zeros((4, 4, 3)), modality="US", rgb=True) is None


def test_ct_uses_the_first_of_several_header_windows() -> None:
    frames = decode_pixels(io.BytesIO(ct_instance_bytes(rows=64, columns=64)), "chest")
    assert list(frames.dataset.WindowCenter) == [-600, 40]
    assert frames.header_window == Window(center=-600, width=1500)


def test_to_uint8() -> None:
    window = Window(center=0, width=200)
    grey = to_uint8(np.array([-500.0, -100.0, 0.0, 100.0, 900.0]), window)
    np.testing.assert_array_equal(grey, [0, 0, 128, 255, 255])
    np.testing.assert_array_equal(to_uint8(np.array([-100.0, 100.0]), window, inverted=True), [255, 0])
    rgb = np.array([[[0, 65535, 32768]]], dtype=np.uint16)
    np.testing.assert_array_equal(to_uint8(rgb, None), [[[0, 255, 128]]])
