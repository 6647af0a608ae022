"""The same corpus through the `deid` package's default recipe: where both handle an
attribute, both take the identifying value away, and deid's own parser finds no sentinel
left in our output."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pydicom
import pytest

from imagehub.core.deid import PROFILES, DateShifter, UidMapper, deidentify_dataset
from tests.support.phi_corpus import PhiCorpus, write_phi_corpus

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # deid imports a module pydicom retires in v4
    from deid.config import DeidRecipe
    from deid.dicom import get_identifiers, replace_identifiers

SECRET = b"compare"
# Identifying attributes that deid's default recipe and Table E.1-1 both act on.
SHARED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientAddress",
    "OtherPatientIDs",
    "AccessionNumber",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "StudyDate",
    "SeriesDate",
    "ContentDate",
    "AdditionalPatientHistory",
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PhiCorpus:
    return write_phi_corpus(tmp_path_factory.mktemp("phi"), instances=4)


def ours(path: Path, profile: str, out_dir: Path) -> Path:
    ds = pydicom.dcmread(path)
    deidentify_dataset(ds, profile=PROFILES[profile], uids=UidMapper(SECRET), dates=DateShifter(SECRET))
    out = out_dir / f"{profile}_{path.name}"
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_both_take_away_the_shared_identifiers(corpus: PhiCorpus, profile: str, tmp_path: Path) -> None:
    for path in corpus.paths:
        original = pydicom.dcmread(path)
        theirs = replace_identifiers([str(path)], deid=DeidRecipe())[0]
        mine = pydicom.dcmread(ours(path, profile, tmp_path))
        for keyword in SHARED:
            before = original.get(keyword)
            assert before, keyword
            assert theirs.get(keyword) != before, f"deid kept {keyword}"
            assert mine.get(keyword) != before, f"we kept {keyword}"


def test_deid_finds_no_sentinel_in_our_basic_output(corpus: PhiCorpus, tmp_path: Path) -> None:
    sentinel = re.compile(r"SNTL\d{5}X")
    for path in corpus.paths:
        before = get_identifiers([str(path)])[str(path)]
        assert any(sentinel.search(str(field.element.value)) for field in before.values())
        output = ours(path, "basic", tmp_path)
        after = get_identifiers([str(output)])[str(output)]
        assert not [uid for uid, field in after.items() if sentinel.search(str(field.element.value))]
        assert b"SNTL" not in output.read_bytes()
