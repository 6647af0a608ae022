"""Burned-in text found and blanked in the stored pixels, and everything else left as it was."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from imagehub.core.deid.ocr import OcrEngine, TesseractEngine, open_ocr
from imagehub.core.deid.pixels import PixelReport, RegionRule, at_risk, redact_pixels
from imagehub.core.imaging.synthetic import ct_instance
from tests.core.deid.test_ocr import NAME_LINE, Bounds, font, grey, read, ultrasound

YELLOW = (255, 255, 0)


def dicom(pixels: NDArray[Any], *, modality: str = "US", photometric: str = "MONOCHROME2") -> Dataset:
    """A minimal instance as a scanner writes it: explicit VR little endian, 8 bits."""
    multi_frame = pixels.ndim == (4 if photometric == "RGB" else 3)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage if multi_frame else UltrasoundImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = modality
    ds.Manufacturer = "Acme Medical Systems"
    ds.PatientName = "DOE^JOHN"
    ds.set_pixel_data(pixels, photometric, 8, generate_instance_uid=False)
    return ds


def rewritten(ds: Dataset) -> Dataset:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def mask(
    shape: tuple[int, ...], regions: list[tuple[int, int, int, int, int]], frame: int = 0
) -> NDArray[np.bool_]:
    covered = np.zeros(shape[:2], bool)
    for index, x, y, width, height in regions:
        if index == frame:
            covered[y : y + height, x : x + width] = True
    return covered


def assert_blanked(
    before: NDArray[Any], after: NDArray[Any], report: PixelReport, text: Bounds, frame: int = 0
) -> None:
    """Every region holds the frame's minimum, every text pixel is in a region, nothing else changed."""
    covered = mask(before.shape, report.regions, frame)
    assert (after[covered] == before.min(axis=(0, 1))).all()
    assert np.array_equal(after[~covered], before[~covered])
    left, top, right, bottom = text
    strokes = np.zeros(before.shape[:2], bool)
    strokes[top:bottom, left:right] = grey_of(before)[top:bottom, left:right] > 225  # speckle stops at 220
    assert covered[strokes].all(), "text pixels left"


def grey_of(pixels: NDArray[Any]) -> NDArray[Any]:
    return pixels.max(axis=2) if pixels.ndim == 3 else pixels


@pytest.fixture(scope="module")
def tesseract() -> OcrEngine:
    return TesseractEngine()


@pytest.mark.parametrize(
    ("changes", "all_instances", "expected"),
    [
        ({"Modality": "US"}, False, True),
        ({"Modality": "OT"}, False, True),
        ({}, False, False),
        ({}, True, True),
        ({"BurnedInAnnotation": "YES"}, False, True),
        ({"BurnedInAnnotation": "NO"}, False, False),
        ({"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]}, False, True),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}, False, True),
    ],
)
def test_at_risk(changes: dict[str, Any], all_instances: bool, expected: bool) -> None:
    ds = ct_instance(rows=16, columns=16)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    assert at_risk(ds, all_instances=all_instances) is expected


@pytest.mark.parametrize("colour", [255, YELLOW], ids=["grey", "rgb"])
def test_tesseract_text_is_blanked_in_the_stored_pixels(
    tesseract: OcrEngine, colour: int | tuple[int, int, int]
) -> None:
    image, text = ultrasound(colour=colour)
    before = np.asarray(image)
    ds = dicom(before, photometric="MONOCHROME2" if before.ndim == 2 else "RGB")

    report = redact_pixels(ds, engine=tesseract)

    assert (report.checked, report.needs_review, report.engine) == (True, True, "tesseract")
    assert report.regions
    assert {region[0] for region in report.regions} == {0}
    after = ds.pixel_array
    assert_blanked(before, after, report, text)
    assert "1234567" not in read(tesseract.detect(grey(Image.fromarray(after))))
    reread = rewritten(ds)
    assert np.array_equal(reread.pixel_array, after)
    assert reread.PhotometricInterpretation == ds.PhotometricInterpretation
    assert reread.SOPInstanceUID == ds.SOPInstanceUID


def test_easyocr_reads_the_name_and_nothing_once_redacted() -> None:
    easyocr = open_ocr("easyocr")
    image, text = ultrasound(192)  # small: on a CPU, time grows with the area
    before = grey(image)
    assert "1234567" in read(easyocr.detect(before))

    ds = dicom(before)
    report = redact_pixels(ds, engine=easyocr)

    assert (report.checked, report.needs_review, report.engine) == (True, True, "easyocr")
    assert_blanked(before, ds.pixel_array, report, text)
    assert easyocr.detect(ds.pixel_array) == []


def test_each_frame_is_read_on_its_own(tesseract: OcrEngine) -> None:
    named, text = ultrasound()
    blank, _ = ultrasound(text=None)
    frames = np.stack([np.asarray(blank), np.asarray(named)])
    ds = dicom(frames)

    report = redact_pixels(ds, engine=tesseract)

    assert {region[0] for region in report.regions} == {1}
    after = rewritten(ds).pixel_array
    assert after.shape == frames.shape
    assert np.array_equal(after[0], frames[0])
    assert_blanked(frames[1], after[1], report, text, frame=1)


def test_instances_not_at_risk_are_left_alone(tesseract: OcrEngine) -> None:
    ds = ct_instance(rows=64, columns=64)
    pixels = ds.PixelData

    report = redact_pixels(ds, engine=tesseract)

    assert report == PixelReport(False, [], None, False, "not at risk of burned-in text")
    assert ds.PixelData is pixels


def test_a_device_rule_blanks_its_region_without_ocr() -> None:
    image, _ = ultrasound()
    before = np.asarray(image)
    ds = dicom(before)
    rules = [
        RegionRule("US", boxes=((0, 0, 150, 24),), manufacturer="acme", rows=256, columns=256),
        RegionRule("US", boxes=((0, 200, 256, 56),), manufacturer="Other Vendor"),
    ]

    report = redact_pixels(ds, engine=None, rules=rules)

    assert report.regions == [(0, 0, 0, 150, 24)]
    assert (report.checked, report.needs_review, report.engine) == (False, True, None)
    after = ds.pixel_array
    assert (after[:24, :150] == before.min()).all()
    assert np.array_equal(after[24:], before[24:])


def test_a_rule_makes_an_instance_at_risk_and_monochrome1_is_blanked_dark() -> None:
    ds = ct_instance(rows=64, columns=64)
    ds.PhotometricInterpretation = "MONOCHROME1"
    before = ds.pixel_array.copy()

    redact_pixels(ds, engine=None, rules=[RegionRule("CT", boxes=((0, 0, 8, 8),))])

    assert (ds.pixel_array[:8, :8] == before.max()).all()


def test_at_risk_pixels_without_an_engine_are_left_for_review() -> None:
    image, _ = ultrasound()
    ds = dicom(np.asarray(image))
    pixels = ds.PixelData

    report = redact_pixels(ds, engine=None)

    assert (report.checked, report.needs_review, report.regions) == (False, True, [])
    assert ds.PixelData is pixels


def test_undecodable_pixels_are_left_for_review(tesseract: OcrEngine) -> None:
    image, _ = ultrasound()
    ds = dicom(np.asarray(image))
    ds.PixelData = b"\x00" * 100

    report = redact_pixels(ds, engine=tesseract)

    assert (report.checked, report.needs_review) == (False, True)
    assert "cannot be decoded" in report.reason


def test_a_compressed_instance_scanned_on_request_is_written_back_uncompressed(tesseract: OcrEngine) -> None:
    path = get_testdata_file("693_J2KR.dcm")  # CT, JPEG 2000 lossless, signed 16 bits
    assert path is not None
    ds = pydicom.dcmread(path)
    burned = ds.pixel_array.copy()
    strokes = Image.new("L", burned.shape[::-1])
    ImageDraw.Draw(strokes).text((10, 10), NAME_LINE, fill=255, font=font(14))
    burned[np.asarray(strokes) > 0] = burned.max()
    ds.compress(JPEG2000Lossless, burned, generate_instance_uid=False)
    assert not at_risk(ds)
    assert redact_pixels(ds, engine=tesseract).checked is False

    report = redact_pixels(ds, engine=tesseract, all_instances=True)

    assert report.needs_review
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    reread = rewritten(ds)
    assert reread.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (reread.BitsAllocated, reread.BitsStored, reread.PixelRepresentation) == (16, 16, 1)
    after = reread.pixel_array
    assert after.dtype == np.int16
    assert (after[np.asarray(strokes) > 0] == burned.min()).all()
    assert reread.SOPClassUID == CTImageStorage


def test_jpeg_colour_is_written_back_as_rgb() -> None:
    path = get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")  # JPEG baseline, YBR_FULL
    assert path is not None
    ds = pydicom.dcmread(path)
    decoded = ds.pixel_array.copy()

    redact_pixels(ds, engine=None, rules=[RegionRule("OT", boxes=((10, 10, 20, 20),))])

    reread = rewritten(ds)
    assert reread.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (reread.PhotometricInterpretation, reread.SamplesPerPixel, reread.PlanarConfiguration) == (
        "RGB",
        3,
        0,
    )
    after = reread.pixel_array
    assert (after[10:30, 10:30] == decoded.min(axis=(0, 1))).all()
    assert np.array_equal(after[30:], decoded[30:])
