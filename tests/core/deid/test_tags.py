"""Table E.1-1 over a corpus in which every text attribute holds a sentinel: searching the
output bytes shows that nothing identifying survives but what a profile retains on purpose."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from imagehub.core.deid import (
    PROFILES,
    DateShifter,
    Profile,
    TagReport,
    UidMapper,
    deidentify_dataset,
    header_phi,
)
from imagehub.core.deid.actions import concrete
from imagehub.core.deid.table import EDITION, annex_e
from tests.support.phi_corpus import PATIENTS, PhiCorpus, write_phi_corpus

SENTINEL = re.compile(rb"SNTL\d{5}X")
SECRET = b"test-secret"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PhiCorpus:
    return write_phi_corpus(tmp_path_factory.mktemp("phi"), instances=20)


def deidentify(path: Path, profile: Profile, clean_text: object = None) -> tuple[bytes, TagReport]:
    ds = pydicom.dcmread(path)
    report = deidentify_dataset(
        ds, profile=profile, uids=UidMapper(SECRET), dates=DateShifter(SECRET), clean_text=clean_text
    )
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue(), report


@pytest.fixture(scope="module", params=["basic", "research"])
def outputs(request: pytest.FixtureRequest, corpus: PhiCorpus) -> tuple[str, list[tuple[bytes, TagReport]]]:
    name: str = request.param
    return name, [deidentify(path, PROFILES[name]) for path in corpus.paths]


def retained(profile: Profile, tag: int) -> bool:
    """Whether the profile keeps this attribute as it is (an option's K)."""
    rule = annex_e().exact.get(tag)
    return rule is not None and concrete(profile.action(rule), dictionary_VR(tag)) == "K"


def test_no_sentinel_survives_but_what_the_profile_retains(
    corpus: PhiCorpus, outputs: tuple[str, list[tuple[bytes, TagReport]]]
) -> None:
    name, results = outputs
    survivors = {match.decode() for data, _ in results for match in SENTINEL.findall(data)}
    leaked = {
        s: hex(corpus.sentinel_tags[s])
        for s in survivors
        if not retained(PROFILES[name], corpus.sentinel_tags[s])
    }
    assert leaked == {}
    station = {s for s in survivors if corpus.sentinel_tags[s] == 0x00081010}  # Station Name
    assert bool(station) == (name == "research")  # kept by Retain Device Identity, and only by it


def test_names_and_ids_are_gone_from_every_byte(outputs: tuple[str, list[tuple[bytes, TagReport]]]) -> None:
    _, results = outputs
    for data, _ in results:
        upper = data.upper()
        for name, patient_id, *_ in PATIENTS:
            for needle in (*name.split("^"), patient_id):
                assert needle.encode() not in upper


def test_reports_carry_no_phi(outputs: tuple[str, list[tuple[bytes, TagReport]]]) -> None:
    _, results = outputs
    for _, report in results:
        assert report.actions
        for action in report.actions:
            text = " ".join(vars(action).values()).upper()
            assert "SNTL" not in text
            assert not any(part in text for name, *_ in PATIENTS for part in name.split("^"))


def test_rules_apply_three_sequences_deep(corpus: PhiCorpus) -> None:
    data, report = deidentify(corpus.paths[0], PROFILES["research"])
    ds = pydicom.dcmread(io.BytesIO(data))
    purpose = (
        ds.SharedFunctionalGroupsSequence[0].ReferencedImageSequence[0].PurposeOfReferenceCodeSequence[0]
    )
    assert purpose.CodeMeaning == "Localizer"  # not in the table: kept
    assert purpose.OperatorsName == ""  # X/Z/D: emptied
    paths = {action.path for action in report.actions}
    assert "(5200,9229)[0].(0008,1140)[0].(0040,A170)[0].(0008,1070)" in paths
    assert "(0040,0275)[0].(0032,1060)" in paths  # kept for Clean Descriptors, its text cleaned
    assert report.sequences_walked >= 5


def test_free_text_goes_through_the_cleaner_with_the_deny_list(corpus: PhiCorpus) -> None:
    calls: list[Sequence[str]] = []

    def scrub(text: str, deny: Sequence[str]) -> str:
        calls.append(deny)
        for phi in deny:
            text = text.replace(phi, "[removed]")
        return text

    data, _ = deidentify(corpus.paths[0], PROFILES["research"], clean_text=scrub)
    ds = pydicom.dcmread(io.BytesIO(data))
    assert "QUIMBLEFORTH" in calls[0]
    assert "AGATHA" in calls[0]
    assert "MRN-QA-7731" in calls[0]
    for text in (ds.StudyDescription, ds.ImageComments, ds.ContentSequence[0].TextValue):
        assert "[removed]" in text
        assert "SNTL" in text
    assert b"QUIMBLEFORTH" not in data
    assert b"AGATHA" not in data


def test_free_text_without_a_cleaner_is_emptied(corpus: PhiCorpus) -> None:
    data, _ = deidentify(corpus.paths[0], PROFILES["research"])
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.StudyDescription == ""
    assert ds.ImageComments == ""
    assert ds.ContentSequence[0].TextValue == ""  # not in the table, cleaned all the same
    assert ds.ContentSequence[0].PersonName == "ANONYMOUS"  # D
    basic = pydicom.dcmread(io.BytesIO(deidentify(corpus.paths[0], PROFILES["basic"])[0]))
    assert "StudyDescription" not in basic
    assert len(basic.ContentSequence) == 0


def test_output_reparses_keeps_pixels_and_says_how(corpus: PhiCorpus) -> None:
    original = pydicom.dcmread(corpus.paths[3])
    for name, codes, temporal in (
        ("basic", {"113100"}, "REMOVED"),
        (
            "research",
            {"113100", "113101", "113104", "113105", "113107", "113108", "113109", "113111"},
            "MODIFIED",
        ),
    ):
        ds = pydicom.dcmread(io.BytesIO(deidentify(corpus.paths[3], PROFILES[name])[0]))
        assert np.array_equal(ds.pixel_array, original.pixel_array)
        assert ds.PatientIdentityRemoved == "YES"
        assert {item.CodeValue for item in ds.DeidentificationMethodCodeSequence} == codes
        assert {item.CodingSchemeDesignator for item in ds.DeidentificationMethodCodeSequence} == {"DCM"}
        assert f"ImageHub {name}" in ds.DeidentificationMethod
        assert f"DICOM PS3.15 {EDITION}" in ds.DeidentificationMethod
        assert all(len(value) <= 64 for value in ds.DeidentificationMethod)
        assert ds.LongitudinalTemporalInformationModified == temporal
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_private_attributes_go_unless_safe_and_retained(corpus: PhiCorpus) -> None:
    basic_data, basic = deidentify(corpus.paths[0], PROFILES["basic"])
    assert not any(element.tag.is_private for element in pydicom.dcmread(io.BytesIO(basic_data)))
    assert basic.private_removed == 6  # two creators and four values
    research_data, research = deidentify(corpus.paths[0], PROFILES["research"])
    ds = pydicom.dcmread(io.BytesIO(research_data))
    assert sorted(element.tag for element in ds if element.tag.is_private) == [0x00190010, 0x0019100C]
    assert ds[0x00190010].value == "SIEMENS MR HEADER"
    assert ds[0x0019100C].value == 1000
    assert research.private_removed == 4


def test_overlay_planes_and_curves_go_whole(corpus: PhiCorpus) -> None:
    for name in PROFILES:
        ds = pydicom.dcmread(io.BytesIO(deidentify(corpus.paths[0], PROFILES[name])[0]))
        assert not [element for element in ds if element.tag.group in (0x5000, 0x6000)]


def test_file_meta_loses_the_sending_system() -> None:
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = "1.2.3.4"
    ds.file_meta.SourceApplicationEntityTitle = "HOSPITAL_CT01"
    report = deidentify_dataset(
        ds, profile=PROFILES["basic"], uids=UidMapper(SECRET), dates=DateShifter(SECRET)
    )
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == UidMapper(SECRET).map("1.2.3.4")
    assert ("(0002,0016)", "X") in {(action.path, action.action) for action in report.actions}


def test_header_phi_lists_the_instances_own_identifiers(corpus: PhiCorpus) -> None:
    ds = pydicom.dcmread(corpus.paths[0])
    phi = header_phi(ds)
    for expected in ("QUIMBLEFORTH^AGATHA", "AGATHA QUIMBLEFORTH", "QUIMBLEFORTH", "AGATHA", "MRN-QA-7731"):
        assert expected in phi
    nested = ds.ReferencedPatientSequence[0].PatientName
    assert str(nested) in phi  # from inside a sequence too
    assert all(len(text) >= 3 for text in phi)
    assert phi == sorted(phi, key=lambda text: (-len(text), text))
