"""Header values that break the standard's length limits are reported per file, never
failing the whole commit's metadata (PostgreSQL enforces the column lengths)."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from sqlalchemy import delete, select

from imagehub.core.compute.local import LocalExecutor
from imagehub.models.imaging import ImagingFile
from imagehub.services import datasets, imaging
from imagehub.services.imaging_work import Extracted
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files
from tests.support.races import race


def altered(**values: str) -> bytes:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def test_over_long_values_are_reported_per_file(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="odd", author="t")
    files = {
        "good.dcm": Path(get_testdata_file("CT_small.dcm")).read_bytes(),
        "long-uid.dcm": altered(SeriesInstanceUID="1.2." + "3" * 72),
        "long-codes.dcm": altered(Modality="M" * 20, BodyPartExamined="B" * 70),
    }
    commit = commit_files(platform, "lab", "odd", "main", dict(files))
    ref = imaging.resolve_commit(platform, "lab/odd", commit.id)
    summary = imaging.index_metadata(platform, LocalExecutor(), ref)
    assert summary.counts["dicom"] == 2
    assert summary.failures == {
        "long-uid.dcm": "invalid DICOM: its SeriesInstanceUID has 76 characters, past the 64 allowed"
    }
    with platform.sessions() as session:
        codes = [(row.modality, row.body_part) for row in session.scalars(select(ImagingFile))]
    assert sorted(codes, key=str) == sorted([("CT", None), ("M" * 16, "B" * 64), (None, None)], key=str)


def test_a_nul_inside_a_text_value_is_dropped_not_fatal(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="odd", author="t")
    files = {"nul.dcm": altered(SeriesDescription="AB\x00CD", PatientName="DOE\x00^JOHN")}
    commit = commit_files(platform, "lab", "odd", "main", files)
    ref = imaging.resolve_commit(platform, "lab/odd", commit.id)
    summary = imaging.index_metadata(platform, LocalExecutor(), ref)
    assert (summary.counts["dicom"], summary.failures) == (1, {})
    with platform.sessions() as session:
        row = session.scalars(select(ImagingFile)).one()
    assert row.series_description == "ABCD"
    assert "\\u0000" not in row.attributes


def test_two_runs_storing_the_same_new_blobs_at_once_both_succeed(platform: Platform) -> None:
    results = [
        Extracted(f"{n:064x}", "unreadable", "not imaging", None) for n in range(1, 200)
    ]  # new to the index, as when two datasets share an import
    for _ in range(3):
        with platform.sessions.begin() as session:
            session.execute(delete(ImagingFile))
        _, errors = race(
            platform, {side: lambda session: imaging.store_metadata_rows(session, results) for side in "ab"}
        )
        assert errors == []
    with platform.sessions() as session:
        assert len(list(session.scalars(select(ImagingFile.blob)))) == len(results)
