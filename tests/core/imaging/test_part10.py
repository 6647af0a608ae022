"""Files stored without a preamble and file meta information leave as Part-10 files."""

from __future__ import annotations

import io

import pydicom
import pytest

from imagehub.core.imaging.part10 import HEAD, as_part10, is_part10
from tests.support.dicom_files import pydicom_file

NO_META = ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm", "rtstruct.dcm"]


@pytest.mark.parametrize("name", NO_META)
def test_a_bare_data_set_gains_what_part10_needs_and_loses_nothing(name: str) -> None:
    stored = pydicom_file(name).read_bytes()
    assert not is_part10(stored[:HEAD])
    made = as_part10(io.BytesIO(stored))
    assert is_part10(made[:HEAD])
    strict = pydicom.dcmread(io.BytesIO(made))  # no force: a strict reader takes it
    original = pydicom.dcmread(io.BytesIO(stored), force=True)
    assert strict.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert [e.tag for e in strict] == [e.tag for e in original]
    assert all(strict[e.tag].value == e.value for e in original if e.VR != "SQ")


def test_a_part10_file_is_recognised_as_one() -> None:
    assert is_part10(pydicom_file("CT_small.dcm").read_bytes()[:HEAD])
