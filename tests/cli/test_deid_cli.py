"""`imagehub deid IN --out OUT`: a local folder de-identified without a server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR, keyword_for_tag

from imagehub.core.deid import PROFILES, annex_e
from tests.cli.test_cli import run
from tests.support.phi_corpus import write_phi_corpus

DCIODVFY = shutil.which("dciodvfy")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEHUB_")}
    env["HOME"] = str(tmp_path / "home")
    return env


def _errors(path: Path) -> set[str]:
    """dciodvfy's error lines, without the file-specific values that de-identification changes."""
    assert DCIODVFY is not None
    found = subprocess.run([DCIODVFY, "-new", str(path)], capture_output=True, text=True, check=False)
    lines = (found.stdout + found.stderr).splitlines()
    return {
        line.split(" - ")[0] + " - " + line.split(" - ")[1] if " - " in line else line
        for line in lines
        if line.startswith("Error")
    }


def test_folder_is_deidentified_mirrored_and_reported(tmp_path: Path) -> None:
    corpus = write_phi_corpus(tmp_path / "in", instances=6, seed=11)
    (tmp_path / "in" / "notes.txt").write_text("scanner notes")
    broken = tmp_path / "in" / "broken.dcm"
    broken.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes()[:900])
    args = [
        "deid",
        str(tmp_path / "in"),
        "--out",
        str(tmp_path / "out"),
        "--ocr",
        "none",
        "--profile",
        "basic",
    ]
    result = run(args, _env(tmp_path))
    assert result.returncode == 1, result.stderr  # one corrupt file is a failure worth an exit status
    assert f"{len(corpus.paths)} written, 1 failed, 1 skipped" in result.stdout

    written = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(tmp_path / "in") for p in corpus.paths)
    everything = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert [s for s in corpus.sentinels if s.encode() in everything] == []
    for path in corpus.paths:
        out = pydicom.dcmread(tmp_path / "out" / path.relative_to(tmp_path / "in"))
        assert out.PatientIdentityRemoved == "YES"
        assert out.pixel_array.shape  # pixels survive

    report = json.loads((tmp_path / "out.deid-report.json").read_text())
    assert set(report["failed"]) == {"broken.dcm"}
    assert set(report["skipped"]) == {"notes.txt"}
    assert report["standard_edition"]
    assert [s for s in corpus.sentinels if s in json.dumps(report)] == []

    refused = run(["deid", str(tmp_path / "in"), "--out", str(tmp_path / "out")], _env(tmp_path))
    assert refused.returncode == 2
    assert "not empty" in refused.stderr
    bogus = run(
        ["deid", str(tmp_path / "in"), "--out", str(tmp_path / "new"), "--ocr", "bogus"], _env(tmp_path)
    )
    assert bogus.returncode == 2
    assert "tesseract, easyocr, none" in bogus.stderr


def test_same_secret_gives_the_same_uids_across_runs(tmp_path: Path) -> None:
    corpus = write_phi_corpus(tmp_path / "in", instances=2, seed=5)
    env = _env(tmp_path)
    for out in ("a", "b"):
        assert (
            run(["deid", str(tmp_path / "in"), "--out", str(tmp_path / out), "--ocr", "none"], env).returncode
            == 0
        )
    for path in corpus.paths:
        relative = path.relative_to(tmp_path / "in")
        first = pydicom.dcmread(tmp_path / "a" / relative)
        second = pydicom.dcmread(tmp_path / "b" / relative)
        assert first.SOPInstanceUID == second.SOPInstanceUID != pydicom.dcmread(path).SOPInstanceUID


@pytest.mark.skipif(
    DCIODVFY is None, reason="dicom3tools (Debian) provides dciodvfy; scripts/setup.sh installs it"
)
def test_dciodvfy_finds_no_new_errors(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), source / name)
    corpus = write_phi_corpus(source / "corpus", instances=2, seed=1)
    assert (
        run(["deid", str(source), "--out", str(tmp_path / "out"), "--ocr", "none"], _env(tmp_path)).returncode
        == 0
    )
    for path in [source / "CT_small.dcm", source / "MR_small.dcm", *corpus.paths]:
        before = _errors(path)
        after = _errors(tmp_path / "out" / path.relative_to(source))
        assert after <= before, (path.name, sorted(after - before))


def test_research_profile_keeps_only_what_its_options_retain(tmp_path: Path) -> None:
    """Under research, sentinels survive only where an option keeps (K) or cleans (C) a value.

    Cleaning removes what can be recognised (names from the header, IDs, dates, phones...);
    an arbitrary token in a description is indistinguishable from a description.
    """
    corpus = write_phi_corpus(tmp_path / "in", instances=2, seed=9)
    args = ["deid", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--ocr", "none"]
    assert run(args, _env(tmp_path)).returncode == 0
    everything = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    survivors = {s for s in corpus.sentinels if s.encode() in everything}
    research = PROFILES["research"]
    table = annex_e()
    for sentinel in survivors:
        tag = corpus.sentinel_tags[sentinel]
        rule = table.rule_for(tag)
        assert dictionary_VR(tag) != "PN", keyword_for_tag(tag)
        assert rule is None or research.action(rule) in ("K", "C"), keyword_for_tag(tag)
