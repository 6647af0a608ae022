"""Per-patient date shifting: every date of a patient moves by one secret offset, so the
intervals between them survive while the dates themselves do not."""

from __future__ import annotations

import io
from datetime import date, datetime

import pydicom
import pytest

from imagehub.core.deid import PROFILES, DateShifter, Option, Profile, UidMapper, deidentify_dataset
from imagehub.core.deid.dates import shift_date, shift_datetime
from imagehub.core.errors import InvalidInput
from tests.support.phi_corpus import PhiCorpus, write_phi_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PhiCorpus:
    return write_phi_corpus(tmp_path_factory.mktemp("phi"), instances=12)


def outputs(corpus: PhiCorpus, profile: Profile) -> list[pydicom.Dataset]:
    results = []
    for path in corpus.paths:
        ds = pydicom.dcmread(path)
        deidentify_dataset(ds, profile=profile, uids=UidMapper(b"k"), dates=DateShifter(b"k"))
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        results.append(pydicom.dcmread(io.BytesIO(out.getvalue())))
    return results


def day(value: str) -> date:
    return datetime.strptime(value[:8], "%Y%m%d").date()


def test_offsets_are_per_patient_in_the_past_and_keyed() -> None:
    shifter = DateShifter(b"k")
    offsets = {shifter.offset_days(f"MRN{n}") for n in range(200)}
    assert all(-3650 <= offset <= -1 for offset in offsets)
    assert len(offsets) > 150
    assert shifter.offset_days("MRN1") == DateShifter(b"k").offset_days("MRN1")
    assert [DateShifter(b"other").offset_days(f"MRN{n}") for n in range(5)] != [
        shifter.offset_days(f"MRN{n}") for n in range(5)
    ]
    with pytest.raises(InvalidInput):
        DateShifter(b"")


@pytest.mark.parametrize(
    ("value", "days", "shifted"),
    [
        ("20240301", -1, "20240229"),
        ("20240301-20240310", -10, "20240220-20240229"),
        ("-20240310", -10, "-20240229"),
        ("202403", -1, "202402"),
        ("2024.03.01", -1, ""),
        ("20241399", -1, ""),
    ],
)
def test_da_values(value: str, days: int, shifted: str) -> None:
    assert shift_date(value, days) == shifted


@pytest.mark.parametrize(
    ("value", "days", "shifted"),
    [
        ("20240301120000.5+0100", -1, "20240229120000.5+0100"),
        ("20240301", -366, "20230301"),
        ("2024", -1, "2023"),
        ("later", -1, ""),
        ("2024-03-17T09:30", -1, ""),  # not a DT: emptied, never half shifted
        ("202403011200", -1, "202402291200"),
        ("2024+0100", -1, "2023+0100"),
    ],
)
def test_dt_values(value: str, days: int, shifted: str) -> None:
    assert shift_datetime(value, days) == shifted


def test_modified_dates_keep_every_interval_of_a_patient(corpus: PhiCorpus) -> None:
    offsets: dict[str, set[int]] = {}
    for original, ds in zip(corpus.originals, outputs(corpus, PROFILES["research"]), strict=True):
        for keyword, before in original.dates.items():
            after = ds[keyword].value
            assert after != before
            offsets.setdefault(original.patient_id, set()).add((day(after) - day(before)).days)
            if keyword == "AcquisitionDateTime":
                assert after[8:] == before[8:]  # the time of day stays
        assert ds.StudyTime == "101500"
        assert ds.PatientBirthDate == ""  # Z even with the option: the table keeps no birth date
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert all(len(shifts) == 1 and shifts != {0} for shifts in offsets.values())
    assert len(offsets) == 2


def test_basic_profile_keeps_no_date(corpus: PhiCorpus) -> None:
    for original, ds in zip(corpus.originals, outputs(corpus, PROFILES["basic"]), strict=True):
        for keyword, before in original.dates.items():
            assert ds.get(keyword) in (None, "", "19000101", "19000101000000"), keyword
            assert before[:8] not in str(ds.get(keyword))
        assert ds.LongitudinalTemporalInformationModified == "REMOVED"


def test_full_dates_keep_them_as_they_were(corpus: PhiCorpus) -> None:
    full = Profile(frozenset({Option.RETAIN_LONG_FULL_DATES}), "full-dates")
    for original, ds in zip(corpus.originals, outputs(corpus, full), strict=True):
        assert {keyword: ds[keyword].value for keyword in original.dates} == original.dates
        assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
