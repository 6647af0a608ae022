"""The PHI verification scan: it finds what a PHI-seeded instance carries, finds nothing in
ImageHub's own de-identified output, and never quotes what it finds."""

from __future__ import annotations

import gzip
import io
import struct
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagehub.core.deid import PROFILES, DateShifter, UidMapper
from imagehub.core.deid.instance import Policy, Tools, deidentify_file
from imagehub.core.deid.ocr import OcrEngine, open_ocr
from imagehub.core.deid.ocr.base import TextBox
from imagehub.core.deid.recipe import parse_recipe
from imagehub.core.deid.text import TextScrubber
from imagehub.core.deid.verify import TEXT_WINDOW, Finding, scan_file, scan_nifti, verify_instance
from imagehub.core.imaging.synthetic import ct_instance_bytes
from tests.core.deid.test_ocr import grey, ultrasound
from tests.core.deid.test_pixels import dicom
from tests.support.phi_corpus import PATIENTS, PhiCorpus, write_phi_corpus

NESTED = "SharedFunctionalGroupsSequence[0].ReferencedImageSequence[0].ReferringPhysicianName"
NIFTI_PHI = b"Patient: Quimbleforth, scanned 4 March 2021"


@pytest.fixture(scope="module")
def scanner() -> TextScrubber:
    return TextScrubber()


@pytest.fixture(scope="module")
def tesseract() -> OcrEngine:
    return open_ocr("tesseract")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PhiCorpus:
    return write_phi_corpus(tmp_path_factory.mktemp("phi"), instances=4, seed=3)


def deidentified(data: bytes, profile: str, scanner: TextScrubber, ocr: OcrEngine | None = None) -> bytes:
    """``data`` through ImageHub's own de-identification, as the pipeline runs it."""
    policy = Policy(profile, PROFILES[profile], parse_recipe(""), ocr)
    result = deidentify_file(data, policy, Tools(UidMapper(b"u" * 32), DateShifter(b"d" * 32), scanner))
    assert result.output is not None, result.error
    return result.output


def quoted(findings: list[Finding], corpus: PhiCorpus) -> set[str]:
    """Identifying strings of the corpus that appear anywhere in the findings."""
    text = " ".join(value for finding in findings for value in finding.as_dict().values()).upper()
    identifying = set(corpus.sentinels)
    for name, patient_id, *_ in PATIENTS:
        identifying |= {patient_id, *name.split("^")}
    return {value for value in identifying if value.upper() in text}


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_a_phi_seeded_instance_gives_tag_and_text_findings_without_quoting_them(
    corpus: PhiCorpus, scanner: TextScrubber, profile: str
) -> None:
    for path in corpus.paths:
        scan = scan_file(
            io.BytesIO(path.read_bytes()), profile=PROFILES[profile], ocr=None, text_scanner=scanner
        )
        assert scan.kind == "dicom"
        where: dict[str, set[str]] = {"tag": set(), "text": set(), "pixels": set()}
        for finding in scan.findings:
            where[finding.kind].add(finding.where)
        assert {"PatientName", "PatientID", "PatientBirthDate", "StudyDate"} <= where["tag"]
        assert NESTED in where["tag"]
        assert "private attributes" in where["tag"]
        assert where["pixels"] == set()  # a CT is not at risk of burned-in text
        if profile == "research":  # descriptions are cleaned, not removed: identifying text in them
            assert {"StudyDescription", "ImageComments"} <= where["text"]
        assert quoted(scan.findings, corpus) == set()


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_imagehubs_own_deidentification_leaves_nothing_to_find(
    corpus: PhiCorpus, scanner: TextScrubber, profile: str
) -> None:
    for path in corpus.paths:
        output = deidentified(path.read_bytes(), profile, scanner)
        scan = scan_file(io.BytesIO(output), profile=PROFILES[profile], ocr=None, text_scanner=scanner)
        assert (scan.kind, scan.findings) == ("dicom", [])


def test_the_scan_leaves_the_instance_as_it_was(corpus: PhiCorpus, scanner: TextScrubber) -> None:
    ds = pydicom.dcmread(corpus.paths[0])
    before = ds.to_json_dict()
    assert verify_instance(ds, profile=PROFILES["research"], ocr=None, text_scanner=scanner).findings
    assert ds.to_json_dict() == before


def test_kept_free_text_is_read_for_names_and_dates(scanner: TextScrubber) -> None:
    ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(rows=16, columns=16)))
    ds.AcquisitionProtocolName = "Dr. Quimbleforth, 4 March 2021"  # LO outside Table E.1-1: kept
    scanned = verify_instance(ds, profile=PROFILES["research"], ocr=None, text_scanner=scanner).findings
    found = [f for f in scanned if f.where == "AcquisitionProtocolName"]
    assert [f.kind for f in found] == ["text"]
    assert "PERSON" in found[0].detail
    assert "DATE_TIME" in found[0].detail
    assert "Quimbleforth" not in found[0].detail
    # Without a text scanner, free text is not judged.
    unscanned = verify_instance(ds, profile=PROFILES["research"], ocr=None, text_scanner=None).findings
    assert "AcquisitionProtocolName" not in {f.where for f in unscanned}


def test_an_empty_value_is_no_finding_whatever_the_profile_puts_there(scanner: TextScrubber) -> None:
    """A dummy date (action D) in place of an empty one carries nothing to remove."""
    ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(rows=16, columns=16)))
    ds.InstanceCreationDate = ""
    ds.SeriesDate = "20210304"
    found = {
        f.where
        for f in verify_instance(ds, profile=PROFILES["basic"], ocr=None, text_scanner=scanner).findings
    }
    assert "SeriesDate" in found
    assert "InstanceCreationDate" not in found


def nifti(descrip: bytes) -> bytes:
    image = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
    image.header["descrip"] = descrip
    return bytes(image.to_bytes())


def test_a_nifti_with_phi_in_its_description_is_found(scanner: TextScrubber) -> None:
    for data in (nifti(NIFTI_PHI), gzip.compress(nifti(NIFTI_PHI))):
        scan = scan_file(io.BytesIO(data), profile=PROFILES["research"], ocr=None, text_scanner=scanner)
        assert scan.kind == "nifti"
        assert [(f.kind, f.where) for f in scan.findings] == [("text", "descrip")]
        assert "PERSON" in scan.findings[0].detail
        assert "Quimbleforth" not in scan.findings[0].detail
        cleaned = deidentified(data, "research", scanner)
        assert scan_nifti(io.BytesIO(cleaned), text_scanner=scanner) == []
    assert scan_nifti(io.BytesIO(nifti(b"T1 weighted, 1 mm isotropic")), text_scanner=scanner) == []


def test_burned_in_text_is_found_by_ocr_and_gone_after_redaction(
    scanner: TextScrubber, tesseract: OcrEngine
) -> None:
    image, (left, top, right, bottom) = ultrasound()
    buffer = io.BytesIO()
    dicom(grey(image)).save_as(buffer, enforce_file_format=True)
    raw = buffer.getvalue()

    scan = scan_file(io.BytesIO(raw), profile=PROFILES["research"], ocr=tesseract, text_scanner=scanner)
    pixels = [f for f in scan.findings if f.kind == "pixels"]
    assert scan.pixels == "read"
    assert len(pixels) == 1
    assert "burned-in text detected in frame 0" in pixels[0].detail
    assert "JOHN" not in pixels[0].where + pixels[0].detail  # where it is, never what it says
    x_range, y_range = pixels[0].where.removeprefix("frame 0, ").split(", ")
    x0, x1 = (int(v) for v in x_range.removeprefix("x ").split("-"))
    y0, y1 = (int(v) for v in y_range.removeprefix("y ").split("-"))
    assert (x0 < right, left < x1, y0 < bottom, top < y1) == (True, True, True, True)  # overlaps the text

    without_ocr = scan_file(io.BytesIO(raw), profile=PROFILES["research"], ocr=None, text_scanner=scanner)
    assert without_ocr.pixels == "skipped"
    assert not [f for f in without_ocr.findings if f.kind == "pixels"]

    redacted = deidentified(raw, "research", scanner, tesseract)
    after = scan_file(io.BytesIO(redacted), profile=PROFILES["research"], ocr=tesseract, text_scanner=scanner)
    assert (after.pixels, after.findings) == ("read", [])


def test_files_that_are_not_imaging_or_are_damaged_do_not_crash_the_scan(
    scanner: TextScrubber, tmp_path: Path
) -> None:
    research = PROFILES["research"]
    for other in (b"", b"scanner export notes\n", b"\x89PNG\r\n\x1a\n" + bytes(64)):
        assert scan_file(io.BytesIO(other), profile=research, ocr=None, text_scanner=scanner).kind == "other"
    truncated = scan_file(
        io.BytesIO(ct_instance_bytes(rows=16, columns=16)[:700]),
        profile=research,
        ocr=None,
        text_scanner=scanner,
    )
    assert truncated.kind == "dicom"
    assert [(f.kind, f.where) for f in truncated.findings] == [("tag", "file")]
    broken = scan_file(io.BytesIO(nifti(NIFTI_PHI)[:200]), profile=research, ocr=None, text_scanner=scanner)
    assert broken.kind == "nifti"
    assert [f.where for f in broken.findings] == ["header"]


def test_an_undecodable_instance_at_risk_is_a_finding(scanner: TextScrubber, tesseract: OcrEngine) -> None:
    image, _ = ultrasound(size=64)
    ds: Dataset = dicom(grey(image))
    ds.PixelData = ds.PixelData[:100]  # fewer bytes than the frame needs
    found = verify_instance(ds, profile=PROFILES["research"], ocr=tesseract, text_scanner=scanner)
    assert [(f.kind, f.where) for f in found.findings if f.kind == "pixels"] == [("pixels", "pixel data")]


class MadeUpFile(io.RawIOBase):
    """A seekable file of ``head`` followed by zeros up to ``size`` bytes, made up as it is read
    (a gigabyte costs nothing), that fails any single read of more than ``limit`` bytes."""

    def __init__(self, head: bytes, size: int, limit: int) -> None:
        self.head, self.size, self.limit, self.position = head, size, limit, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        assert len(buffer) <= self.limit, f"a read of {len(buffer)} bytes at once"
        count = max(0, min(len(buffer), self.size - self.position))
        view = memoryview(buffer)[:count]
        view[:] = bytes(count)
        if self.position < len(self.head):
            part = self.head[self.position : self.position + count]
            view[: len(part)] = part
        self.position += count
        return count


@dataclass
class CountingOcr:
    """An OCR engine that reads no text and counts the frames it was shown."""

    name: str = "counting"
    frames: int = 0

    def detect(self, image: NDArray[np.uint8]) -> list[TextBox]:
        self.frames += 1
        return []


def header_before_pixels(ds: Dataset, pixel_bytes: int) -> bytes:
    """``ds`` written as a Part 10 file up to its pixel data's element header (explicit VR little endian)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, pixel_bytes)


@pytest.mark.parametrize(
    ("frames", "side", "ocr"),
    [(1024, 1024, None), (128, 512, CountingOcr())],
    ids=["a 1 GiB instance, pixels not read", "32 MiB of frames, each read by OCR"],
)
def test_a_large_instance_is_scanned_in_bounded_memory(
    scanner: TextScrubber, frames: int, side: int, ocr: CountingOcr | None
) -> None:
    """An ultrasound cine (at risk of burned-in text) read through a file that refuses reads over
    1 MiB: the header without the pixels, each frame on its own when OCR reads them."""
    ds = dicom(np.zeros((2, side, side), np.uint8))
    del ds.PixelData
    ds.NumberOfFrames = frames
    head = header_before_pixels(ds, frames * side * side)
    stream = MadeUpFile(head, len(head) + frames * side * side, limit=2**20)
    tracemalloc.start()
    try:
        scan = scan_file(stream, profile=PROFILES["research"], ocr=ocr, text_scanner=scanner)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scan.kind == "dicom"
    assert "PatientName" in {f.where for f in scan.findings}
    assert (scan.pixels, ocr.frames if ocr else None) == (("read", frames) if ocr else ("skipped", None))
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB held at once"


def test_identifying_text_across_a_window_edge_is_found(scanner: TextScrubber) -> None:
    """A comment longer than a window is read window by window from the file; "Dr." ends one
    window and the name starts the next."""
    filler = "Portal venous phase, no focal lesion. " * (TEXT_WINDOW // 38 + 100)
    before = filler[: TEXT_WINDOW - len("Dr. ") - 1] + " "
    for comment, found in ((filler, False), (before + "Dr. Quimbleforth " + filler[:2000], True)):
        ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(rows=16, columns=16)))
        ds.ImageComments = comment  # cleaned (action C) by the research profile
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # explicit VR holds LT up to 64 KiB
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        stream = MadeUpFile(buffer.getvalue(), len(buffer.getvalue()), limit=TEXT_WINDOW)
        scan = scan_file(stream, profile=PROFILES["research"], ocr=None, text_scanner=scanner)
        comments = [f for f in scan.findings if f.where == "ImageComments"]
        assert bool(comments) is found, comments
        assert all("PERSON" in f.detail and "Quimbleforth" not in f.detail for f in comments)


def test_a_deflated_instance_is_read_whole_and_its_burned_in_text_found(
    scanner: TextScrubber, tesseract: OcrEngine
) -> None:
    """pydicom inflates a deflated data set as a whole, so no value has a place in the file."""
    image, _ = ultrasound()
    ds = dicom(grey(image))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    scan = scan_file(buffer, profile=PROFILES["research"], ocr=tesseract, text_scanner=scanner)
    assert scan.pixels == "read"
    assert {"PatientName", "frame 0"} <= {f.where.split(",")[0] for f in scan.findings}
