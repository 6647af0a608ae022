"""DICOM JSON built from plain values and from real headers, checked by reading it back with pydicom."""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, generate_uid

from imagehub.core.errors import NotFound
from imagehub.core.imaging.dicomjson import Urls, attributes, bulk_value, header
from imagehub.core.imaging.frames import read_header
from tests.support.dicom_files import pydicom_file

URLS = Urls("http://hub/api/v1/datasets/lab/scans/refs/main/dicomweb")


def test_attributes_follow_the_json_model() -> None:
    built = attributes(
        {
            "PatientName": "DOE^JANE",
            "StudyInstanceUID": "1.2.3",
            "SeriesNumber": 4,
            "ModalitiesInStudy": ["CT", "SR"],
            "PatientBirthDate": None,
            "ReferencedSOPSequence": [{"ReferencedSOPInstanceUID": "1.2.3.4"}],
        }
    )
    assert list(built) == sorted(built)  # tags in ascending order
    assert built["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "DOE^JANE"}]}
    assert built["0020000D"] == {"vr": "UI", "Value": ["1.2.3"]}
    assert built["00200011"] == {"vr": "IS", "Value": [4]}
    assert built["00080061"] == {"vr": "CS", "Value": ["CT", "SR"]}
    assert built["00100030"] == {"vr": "DA"}
    assert built["00081199"] == {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.3.4"]}}]}
    with pytest.raises(KeyError):
        attributes({"NotAKeyword": 1})


def test_urls_name_each_resource() -> None:
    assert (
        URLS.instance("1.2", "1.2.3", "1.2.3.4") == f"{URLS.root}/studies/1.2/series/1.2.3/instances/1.2.3.4"
    )
    assert (
        URLS.bulkdata("1", "2", "3")("7FE00010")
        == f"{URLS.root}/studies/1/series/2/instances/3/bulkdata/7FE00010"
    )


def read_back(name: str) -> list[str]:
    """Build the header's JSON, read it back with pydicom (fetching bulk data by its path) and
    check every element; the BulkDataURIs it fetched."""
    with io.BytesIO(pydicom_file(name).read_bytes()) as stream:
        ds, layout = read_header(stream, name)
    built = header(ds, lambda path: f"bulk/{path}", pixel=(layout.tag, layout.vr) if layout else None)
    fetched: list[str] = []

    def fetch(_tag: str, _vr: str, uri: str) -> bytes:
        fetched.append(uri)
        return b"" if uri == "bulk/7FE00010" else bulk_value(ds, uri.removeprefix("bulk/"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some test files hold values their VR does not allow
        back = pydicom.Dataset.from_json(built, bulk_data_uri_handler=fetch)
    for element in ds:
        assert back[element.tag].value == element.value, element.keyword
    return sorted(fetched)


@pytest.mark.parametrize(
    ("name", "bulk"),
    [
        ("CT_small.dcm", ["bulk/00431029", "bulk/7FE00010"]),  # a private OB value of 2 KiB
        ("rtplan.dcm", []),  # nested sequences, no pixel data
        ("waveform_ecg.dcm", ["bulk/54000100/0/54001010", "bulk/54000100/1/54001010"]),  # in items
        (  # private data, an icon's pixel data, an overlay and the pixel data
            "examples_overlay.dcm",
            ["bulk/00291110", "bulk/00880200/0/7FE00010", "bulk/60003000", "bulk/7FE00010"],
        ),
        ("JPGExtended.dcm", ["bulk/7FE00010"]),
    ],
)
def test_headers_read_back_to_the_same_dataset_with_bulk_data_by_reference(
    name: str, bulk: list[str]
) -> None:
    assert read_back(name) == bulk


def test_pixel_data_is_never_inline() -> None:
    with io.BytesIO(pydicom_file("MR_small.dcm").read_bytes()) as stream:
        ds, layout = read_header(stream, "MR_small.dcm")
    assert layout is not None
    assert "PixelData" not in ds
    built = header(ds, URLS.bulkdata("1", "2", "3"), pixel=(layout.tag, layout.vr))
    assert built["7FE00010"] == {
        "vr": "OW",
        "BulkDataURI": f"{URLS.root}/studies/1/series/2/instances/3/bulkdata/7FE00010",
    }


def test_malformed_values_go_out_as_raw_bytes() -> None:
    with io.BytesIO(pydicom_file("badVR.dcm").read_bytes()) as stream, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = header(read_header(stream, "badVR.dcm")[0], lambda path: path)
    assert built["00280008"] == {"vr": "UN", "InlineBinary": "MUE="}  # NumberOfFrames "1A"


@pytest.mark.parametrize("path", ["00100010", "7FE00010", "54000100/9/54001010", "zz", "00100010/0/00100010"])
def test_bulk_value_of_anything_but_bulk_data_is_not_found(path: str) -> None:
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"), stop_before_pixels=True)
    with pytest.raises(NotFound, match="no bulk data"):
        bulk_value(ds, path)


def test_words_of_a_big_endian_file_leave_in_little_endian_order() -> None:
    """PS3.18 F.2.7: InlineBinary and bulk data are little endian, whatever the file's order."""
    ds = pydicom.Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
    small, large = np.arange(8, dtype=">u2").tobytes(), np.arange(4096, dtype=">u2").tobytes()
    ds.add_new(0x60003000, "OW", small)  # overlay data: inline
    ds.add_new(0x60023000, "OW", large)  # a second overlay: by reference
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    read, _ = read_header(io.BytesIO(buffer.getvalue()), "big.dcm")
    built = header(read, URLS.bulkdata("1", "2", "3"))
    inline = base64.b64decode(built["60003000"]["InlineBinary"])
    assert np.frombuffer(inline, "<u2").tolist() == list(range(8))
    assert np.frombuffer(bulk_value(read, "60023000"), "<u2").tolist() == list(range(4096))
