"""One file through de-identification: NIfTI headers, odd inputs, and the leak check's reach."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from imagehub.core.deid import PROFILES, DateShifter, UidMapper
from imagehub.core.deid.instance import Policy, Tools, _leaks, deidentify_file
from imagehub.core.deid.recipe import parse_recipe
from imagehub.core.deid.text import TextScrubber


@pytest.fixture(scope="module")
def setup() -> tuple[Policy, Tools]:
    policy = Policy("basic", PROFILES["basic"], parse_recipe(""), None)
    return policy, Tools(UidMapper(b"k" * 32), DateShifter(b"k" * 32), TextScrubber())


@pytest.mark.parametrize("kind", [nib.Nifti1Image, nib.Nifti2Image])
def test_nifti_text_fields_and_extensions_are_cleared(kind: type, setup: tuple[Policy, Tools]) -> None:
    image = kind(np.zeros((4, 4, 3), dtype=np.int16), np.eye(4))
    image.header["descrip"] = b"DOE^JOHN scanned 2020"
    if "data_type" in image.header:
        image.header["data_type"] = b"DOEJOHN"
    image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"patient John Doe"))
    result = deidentify_file(gzip.compress(image.to_bytes()), *setup)
    assert result.output is not None, result.error
    output = gzip.decompress(result.output)
    assert b"DOE" not in output
    assert b"John" not in output
    assert kind.from_bytes(output).shape == (4, 4, 3)
    assert result.report["extensions_removed"] == 1


def test_unexpected_errors_withhold_the_file_without_quoting_it(setup: tuple[Policy, Tools]) -> None:
    tools = setup[1]
    bad = Policy("basic", PROFILES["basic"], parse_recipe("%header\nADD Rows abc"), None)
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    result = deidentify_file(data, bad, tools)
    assert result.output is None
    assert "abc" not in result.error
    assert result.error


def test_the_leak_check_matches_whole_words_of_decoded_values() -> None:
    assert _leaks(["x Müller^Jörg y"], ["Müller^Jörg"]) == 1
    assert _leaks(["made by TOSHIBA_MEC"], ["TOSHIBA"]) == 0  # whole words only
    assert _leaks(["seen: DOE JOHN today"], ["DOE^JOHN"]) == 1


def _instance(syntax: str = ExplicitVRLittleEndian, **values: object) -> bytes:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "QUIMBLEFORTH^AGATHA"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian])
def test_a_name_left_in_a_kept_value_withholds_the_file(syntax: str, setup: tuple[Policy, Tools]) -> None:
    """A kept attribute holding the patient's name is caught in a deflated output too (the
    check once searched compressed bytes), and however the bytes after it happen to look."""
    kept_name = _instance(syntax, ManufacturerModelName="QUIMBLEFORTH")
    assert deidentify_file(kept_name, *setup).output is None
    segment = _instance(syntax, SegmentLabel="Tumor QUIMBLEFORTH", SegmentAlgorithmType="MANUAL")
    result = deidentify_file(segment, *setup)
    assert result.output is None
    assert "survived de-identification" in result.error


def test_birth_and_death_dates_in_another_calendar_are_removed(setup: tuple[Policy, Tools]) -> None:
    data = _instance(
        PatientBirthDateInAlternativeCalendar="1380-11-22",
        PatientDeathDateInAlternativeCalendar="1445-01-05",
        PatientAlternativeCalendar="I",
    )
    result = deidentify_file(data, *setup)
    assert result.output is not None, result.error
    written = pydicom.dcmread(io.BytesIO(result.output))
    for keyword in ("PatientBirthDateInAlternativeCalendar", "PatientDeathDateInAlternativeCalendar"):
        assert keyword not in written
    assert "PatientAlternativeCalendar" not in written


def test_the_basic_profile_holds_pixels_that_may_carry_text_for_review(setup: tuple[Policy, Tools]) -> None:
    """It does not clean pixel data, so it cannot vouch for an ultrasound's burned-in text."""
    ultrasound = deidentify_file(Path(get_testdata_file("US1_UNCR.dcm")).read_bytes(), *setup)
    assert ultrasound.output is not None, ultrasound.error
    assert ultrasound.needs_review
    assert "burned-in text" in ultrasound.report["pixels"]["reason"]
    ct = deidentify_file(Path(get_testdata_file("CT_small.dcm")).read_bytes(), *setup)
    assert ct.output is not None
    assert not ct.needs_review


def test_command_elements_left_in_a_file_do_not_withhold_it(setup: tuple[Policy, Tools]) -> None:
    """The repository's own MR series carries a Command Group Length (0000,0000), which no
    file may hold and pydicom refuses to write: de-identification drops it."""
    data = (Path(__file__).parents[2] / "data" / "volume" / "brain_001.dcm").read_bytes()
    assert 0x00000000 in pydicom.dcmread(io.BytesIO(data))
    result = deidentify_file(data, *setup)
    assert result.output is not None, result.error
    assert not [e for e in pydicom.dcmread(io.BytesIO(result.output)) if e.tag.group == 0]


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"])
def test_a_file_without_file_meta_is_written_as_a_part_10_file(
    name: str, setup: tuple[Policy, Tools]
) -> None:
    source = pydicom.dcmread(get_testdata_file(name), force=True)
    result = deidentify_file(Path(get_testdata_file(name)).read_bytes(), *setup)
    assert result.output is not None, result.error
    written = pydicom.dcmread(io.BytesIO(result.output))  # a preamble and File Meta: no force needed
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID != source.SOPInstanceUID
    assert written.file_meta.MediaStorageSOPClassUID == source.SOPClassUID
    assert written.original_encoding == source.original_encoding
