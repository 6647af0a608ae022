"""Typed header reads: the fast decoding of ASCII and binary values agrees with pydicom's own,
in every encoding, and a malformed value makes only that field unknown."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.charset import default_encoding
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import BytesLengthException
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagehub.core.imaging import header
from imagehub.core.imaging.dicom import read_dataset


def _written(syntax: str, *, slice_thickness: bytes = b"2.50") -> Dataset:
    """``slice_thickness`` goes in as raw bytes, so that it may be malformed."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4"  # odd length: padded with a NUL on disk
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Modality = "CT"
    ds.StudyDate = "20240131"
    ds.PixelSpacing = ["0.488281", "0.5"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.InstanceNumber = "17"
    ds.WindowCenter = ["40", "400"]
    ds.Rows = 512
    ds.RescaleIntercept = "-1024"
    ds.SliceThickness = "9.75"
    ds.PatientName = "Doe^Jane"
    data = _bytes(ds)
    assert data.count(b"9.75") == 1
    return read_dataset(io.BytesIO(data.replace(b"9.75", slice_thickness)))


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_typed_reads_agree_with_pydicom_in_every_encoding(syntax: str) -> None:
    ds = _written(syntax)
    full = pydicom.dcmread(io.BytesIO(_bytes(ds)))
    assert header.text(ds, "SOPInstanceUID") == "1.2.3.4" == full.SOPInstanceUID
    assert header.text(ds, "ImageType") == "ORIGINAL\\PRIMARY\\AXIAL"
    assert header.text(ds, "Modality") == "CT"
    assert header.text(ds, "StudyDate") == "20240131"
    assert header.numbers(ds, "PixelSpacing", 2) == (0.488281, 0.5)
    assert header.numbers(ds, "ImageOrientationPatient", 6) == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert header.integer(ds, "InstanceNumber") == 17
    assert header.number(ds, "WindowCenter") == 40.0
    assert header.scalar(ds, "Rows") == 512 == full.Rows
    assert header.scalar(ds, "RescaleIntercept") == -1024.0
    assert header.number(ds, "SliceThickness") == 2.5
    assert header.text(ds, "PatientName") == "Doe^Jane"


def test_a_malformed_number_is_unknown_not_fatal() -> None:
    ds = _written(ExplicitVRLittleEndian, slice_thickness=b"abc ")
    assert header.number(ds, "SliceThickness") is None
    assert header.numbers(ds, "PixelSpacing", 2) == (0.488281, 0.5)


def _bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("keyword", "vr", "raw"),
    [
        ("InstanceNumber", "IS", b"17"),
        ("InstanceNumber", "IS", b"17.0"),
        ("InstanceNumber", "IS", b" 3 "),
        ("WindowCenter", "DS", b"40\\\\400 "),
        ("WindowCenter", "DS", b" 1.5"),
        ("PixelSpacing", "DS", b"0.5\\0.25"),
        ("BodyPartExamined", "CS", b"SCH\xc4DEL "),
        ("ImageType", "CS", b"ORIGINAL\\ PRIMARY "),
        ("RetrieveAETitle", "AE", b"  NODE  "),
        ("StudyDate", "DA", b"20240131"),
        ("StudyTime", "TM", b"1200 "),
        ("SOPInstanceUID", "UI", b"1.2.3\x00"),
        ("Rows", "US", b"\x00\x02"),
        ("Rows", "US", b"\x00\x02\x00\x01"),
        ("Rows", "US", b""),
        ("Rows", "US", b"\x01"),
        ("ExposureInuAs", "FD", b"\x00\x00\x00\x00\x00\x00\xf8\x3f"),
    ],
)
def test_plain_values_decode_exactly_as_pydicom_converts_them(keyword: str, vr: str, raw: bytes) -> None:
    tag = tag_for_keyword(keyword)
    ds = Dataset({tag: RawDataElement(Tag(tag), vr, len(raw), raw, 0, False, True)})
    try:
        element = convert_raw_data_element(ds.get_item(tag), encoding=default_encoding, ds=ds)
        theirs = element.value
    except (ValueError, BytesLengthException):
        theirs = None
    expected = list(theirs) if isinstance(theirs, MultiValue) else theirs
    assert header.raw_value(ds, keyword) == expected


@pytest.mark.parametrize(
    ("keyword", "vr", "raw", "charset"),
    [
        ("SeriesDescription", "LO", b"AX  T1 \\ POST\x00", None),
        ("StationName", "SH", b" CT01 ", None),
        ("PatientName", "PN", b"Doe^Jane\\Roe^R  ", "ISO_IR 100"),
        ("PatientName", "PN", b"Doe^John==", None),  # empty groups go
        ("ReferringPhysicianName", "PN", b"A=\\B", None),
        ("PatientName", "PN", b"==", None),
        ("PatientName", "PN", b"  ", None),
        ("PatientName", "PN", b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B", "\\ISO 2022 IR 87"),
        ("PatientComments", "LT", b"  left \\ right \x00", "ISO_IR 192"),
        ("StudyDescription", "LO", b"Sch\xe4del ", "ISO_IR 100"),  # not ASCII: the set decides
        ("StudyDescription", "LO", b"Sch\xc3\xa4del ", "ISO_IR 192"),
    ],
)
def test_names_and_descriptions_read_as_pydicom_decodes_them(
    keyword: str, vr: str, raw: bytes, charset: str | None
) -> None:
    """ASCII text is read without the character set; anything else is decoded with it."""
    padded = raw + b" " * (len(raw) % 2)
    placeholder = b"Q" * len(padded)  # written by pydicom, then swapped for the raw bytes
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    ds.add_new(tag_for_keyword(keyword), vr, placeholder.decode())
    data = _bytes(_with_meta(ds))
    assert data.count(placeholder) == 1
    data = data.replace(placeholder, padded)
    theirs = pydicom.dcmread(io.BytesIO(data))[tag_for_keyword(keyword)].value
    assert header.text(read_dataset(io.BytesIO(data)), keyword) == header._as_text(theirs)


def _with_meta(ds: Dataset) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    return ds
