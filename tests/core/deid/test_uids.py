"""Keyed UID replacement: stable across runs and processes, secret-dependent, and applied
everywhere a UID occurs, so that references between instances still resolve."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from pathlib import Path

import pydicom
import pytest

from imagehub.core.deid import PROFILES, DateShifter, Option, Profile, UidMapper, deidentify_dataset
from imagehub.core.errors import InvalidInput
from tests.support.phi_corpus import PhiCorpus, write_phi_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PhiCorpus:
    return write_phi_corpus(tmp_path_factory.mktemp("phi"), instances=12)


def run(corpus: PhiCorpus, secret: bytes, profile: Profile = PROFILES["research"]) -> list[pydicom.Dataset]:
    """A fresh mapper per run, as a separate job would have; the output as written and read back."""
    uids, dates = UidMapper(secret), DateShifter(secret)
    results = []
    for path in corpus.paths:
        ds = pydicom.dcmread(path)
        deidentify_dataset(ds, profile=profile, uids=uids, dates=dates)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        results.append(pydicom.dcmread(io.BytesIO(out.getvalue())))
    return results


def test_a_uid_maps_to_a_short_uuid_derived_uid() -> None:
    mapped = UidMapper(b"k").map("1.2.840.113619.2.55.3.604688119.969.1268071029.320")
    assert mapped.startswith("2.25.")
    assert len(mapped) <= 64
    assert uuid.UUID(int=int(mapped[5:])).version == 8
    assert UidMapper(b"k").map("1.2.3\x00") == UidMapper(b"k").map(" 1.2.3") == UidMapper(b"k").map("1.2.3")
    assert UidMapper(b"k").map("") == ""
    assert UidMapper(b"other").map("1.2.3") != UidMapper(b"k").map("1.2.3")


def test_the_mapping_is_the_same_in_another_process() -> None:
    code = "from imagehub.core.deid import UidMapper; print(UidMapper(b'k').map('1.2.3.4'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == UidMapper(b"k").map("1.2.3.4")


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(InvalidInput):
        UidMapper(b"")


def test_two_runs_with_one_secret_agree_and_another_secret_differs(corpus: PhiCorpus) -> None:
    first, second, other = run(corpus, b"a"), run(corpus, b"a"), run(corpus, b"b")
    for one, two, three in zip(first, second, other, strict=True):
        for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
            assert one[keyword].value == two[keyword].value != three[keyword].value


def test_references_resolve_to_the_replaced_instances(corpus: PhiCorpus) -> None:
    outputs = run(corpus, b"a")
    new_sop = {
        original.sop_instance_uid: ds.SOPInstanceUID
        for original, ds in zip(corpus.originals, outputs, strict=True)
    }
    sops = set(new_sop.values())
    for original, ds in zip(corpus.originals, outputs, strict=True):
        expected = new_sop[original.referenced_sop_instance_uid]
        assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == expected
        nested = ds.SharedFunctionalGroupsSequence[0].ReferencedImageSequence[0]
        assert nested.ReferencedSOPInstanceUID == expected in sops
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == original_class(original.path)


def original_class(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPClassUID)


def test_series_and_studies_stay_together(corpus: PhiCorpus) -> None:
    outputs = run(corpus, b"a")
    frames: dict[str, set[str]] = {}
    studies: dict[str, set[str]] = {}
    for original, ds in zip(corpus.originals, outputs, strict=True):
        frames.setdefault(original.series_instance_uid, set()).add(ds.FrameOfReferenceUID)
        studies.setdefault(original.study_instance_uid, set()).add(ds.StudyInstanceUID)
    assert all(len(uids) == 1 for uids in frames.values())
    assert len(frames) == 4
    assert all(len(uids) == 1 for uids in studies.values())
    assert len(studies) == 2


def test_no_original_uid_is_left_in_the_output(corpus: PhiCorpus) -> None:
    originals = {
        uid
        for original in corpus.originals
        for uid in (original.sop_instance_uid, original.series_instance_uid, original.study_instance_uid)
    }
    for path in corpus.paths:
        ds = pydicom.dcmread(path)
        deidentify_dataset(ds, profile=PROFILES["basic"], uids=UidMapper(b"a"), dates=DateShifter(b"a"))
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        assert not [uid for uid in originals if uid.encode() in out.getvalue()]


def test_retain_uids_keeps_them(corpus: PhiCorpus) -> None:
    keep = Profile(frozenset({Option.RETAIN_UIDS}), "keep-uids")
    for original, ds in zip(corpus.originals, run(corpus, b"a", keep), strict=True):
        assert ds.SOPInstanceUID == original.sop_instance_uid
        assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == original.referenced_sop_instance_uid
