"""A DICOM corpus seeded with PHI, so that de-identification can be checked byte by byte.

Every text attribute of PS3.15 Table E.1-1 carries a sentinel ("SNTL00042X") unique to that
attribute in that instance, as do attributes nested up to three sequences deep, private
attributes, an overlay plane and a curve; free text hides a sentinel inside a sentence
together with the patient's name. Searching the output bytes for "SNTL" then names every
attribute that leaked. Instances span two patients, one study each, two series per study,
with references between instances and a frame of reference shared by each series.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from imagehub.core.deid.table import annex_e

SENTINEL_PREFIX = "SNTL"
TEXT_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "UC", "AE"})
SIZE = 64
# (name, Patient ID, sex, birth date, first study date): names long and rare enough to search for.
PATIENTS = (
    ("QUIMBLEFORTH^AGATHA", "MRN-QA-7731", "F", "19610412", date(2023, 3, 14)),
    ("ZELLWEGGER^BORIS", "MRN-ZB-0954", "M", "19770923", date(2022, 7, 8)),
)
SERIES_PER_STUDY = 2
FREE_TEXT = ("StudyDescription", "ImageComments", "AdditionalPatientHistory", "PatientComments")
PRIVATE_CREATOR = "ACME IMAGING 1.0"
SAFE_CREATOR = "SIEMENS MR HEADER"  # its (0019,xx0C) B value is on the safe private list


@dataclass(frozen=True)
class Original:
    """What an instance held before de-identification, to check the output against."""

    path: Path
    patient_id: str
    patient_name: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    frame_of_reference_uid: str
    referenced_sop_instance_uid: str  # another instance of the corpus
    dates: dict[str, str]  # keyword -> DA or DT value at the top level


@dataclass
class PhiCorpus:
    paths: list[Path] = field(default_factory=list)
    sentinels: set[str] = field(default_factory=set)
    sentinel_tags: dict[str, int] = field(default_factory=dict)  # sentinel -> the attribute holding it
    free_text: set[str] = field(default_factory=set)  # sentinels inside sentences
    originals: list[Original] = field(default_factory=list)


@dataclass(frozen=True)
class _Slot:
    patient: int
    series: int
    index: int  # within the patient's study


class _Seeder:
    """Hands out sentinels and remembers where each went."""

    def __init__(self, corpus: PhiCorpus) -> None:
        self.corpus = corpus

    def sentinel(self, tag: int, *, free_text: bool = False) -> str:
        text = f"{SENTINEL_PREFIX}{len(self.corpus.sentinels) + 1:05d}X"
        self.corpus.sentinels.add(text)
        self.corpus.sentinel_tags[text] = tag
        if free_text:
            self.corpus.free_text.add(text)
        return text

    def put(self, ds: Dataset, keyword: str) -> None:
        tag = _tag(keyword)
        ds.add_new(tag, dictionary_VR(tag), self.sentinel(tag))


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag


def _text_attributes() -> list[tuple[int, str]]:
    """Table E.1-1 attributes whose VR holds text, outside the command, meta and directory groups."""
    found = []
    for tag in sorted(annex_e().exact):
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue  # newer than pydicom's dictionary: no keyword, no VR to write it with
        if vr in TEXT_VRS and tag >> 16 > 0x0004:
            found.append((tag, vr))
    return found


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _code(value: str, scheme: str, meaning: str) -> Sequence:
    return Sequence([_item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)])


def _pixels(seed: int, burn: str) -> bytes:
    base = np.add.outer(np.arange(SIZE), np.arange(SIZE)).astype(np.uint16) * 16 + seed % 64
    if burn:
        mask = Image.new("L", (SIZE, SIZE))
        ImageDraw.Draw(mask).text((2, 2), burn, fill=255)
        base[np.asarray(mask) > 0] = 4095
    return base.astype("<u2").tobytes()


def _slots(instances: int) -> list[_Slot]:
    """Half the instances for each patient, each half split over the patient's series."""
    slots = []
    for number in range(instances):
        patient = number * len(PATIENTS) // instances
        first = -(-patient * instances // len(PATIENTS))
        count = -(-(patient + 1) * instances // len(PATIENTS)) - first
        local = number - first
        series = local * SERIES_PER_STUDY // max(count, 1)
        slots.append(_Slot(patient, series, local))
    return slots


def _dates(slot: _Slot) -> dict[str, str]:
    study = PATIENTS[slot.patient][4]
    series = study + timedelta(days=slot.series)
    return {
        "StudyDate": study.strftime("%Y%m%d"),
        "SeriesDate": series.strftime("%Y%m%d"),
        "AcquisitionDate": series.strftime("%Y%m%d"),
        "ContentDate": (series + timedelta(days=1)).strftime("%Y%m%d"),
        "InstanceCreationDate": (series + timedelta(days=2 + slot.index % 3)).strftime("%Y%m%d"),
        "AcquisitionDateTime": series.strftime("%Y%m%d") + "101500.250000",
    }


def _instance(
    seeder: _Seeder, slot: _Slot, uids: dict[str, str], dates: dict[str, str], seed: int, burn_text: bool
) -> Dataset:
    name, patient_id, sex, birth_date, _ = PATIENTS[slot.patient]
    surname, given = name.split("^")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uids["sop"]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    for tag, vr in _text_attributes():
        ds.add_new(tag, vr, seeder.sentinel(tag))
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.PatientSex = sex
    ds.PatientBirthDate = birth_date
    for keyword in FREE_TEXT:
        sentinel = seeder.sentinel(_tag(keyword), free_text=True)
        text = f"{given} {surname} seen, ref {sentinel}, {surname} again"
        setattr(ds, keyword, text)
    for keyword, value in dates.items():
        setattr(ds, keyword, value)
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = "101500"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uids["sop"]
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.Modality = "CT"
    ds.SeriesNumber = slot.series + 1
    ds.InstanceNumber = slot.index + 1
    _nested(seeder, ds, uids, f"{given} {surname}")
    _private(seeder, ds)
    _graphics(seeder, ds)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = SIZE
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = _pixels(seed + slot.index, f"{surname} {patient_id}" if burn_text else "")
    return ds


def _nested(seeder: _Seeder, ds: Dataset, uids: dict[str, str], full_name: str) -> None:
    referenced = {"ReferencedSOPClassUID": CTImageStorage, "ReferencedSOPInstanceUID": uids["referenced"]}
    ds.ReferencedImageSequence = Sequence([_item(**referenced)])
    ds.ReferencedPatientSequence = Sequence([_item()])
    seeder.put(ds.ReferencedPatientSequence[0], "PatientName")
    seeder.put(ds.ReferencedPatientSequence[0], "PatientID")
    request = _item(ScheduledProtocolCodeSequence=_code("P-17", "99LOCAL", "chest protocol"))
    for keyword in ("RequestedProcedureID", "RequestedProcedureDescription", "ScheduledProcedureStepID"):
        seeder.put(request, keyword)
    seeder.put(request.ScheduledProtocolCodeSequence[0], "ScheduledPerformingPhysicianName")
    ds.RequestAttributesSequence = Sequence([request])
    # Three deep, under a sequence the table does not list: rules must still apply down there.
    purpose = _item(CodeValue="121311", CodingSchemeDesignator="DCM", CodeMeaning="Localizer")
    seeder.put(purpose, "OperatorsName")
    seeder.put(purpose, "InstitutionName")
    image = _item(**referenced, PurposeOfReferenceCodeSequence=Sequence([purpose]))
    seeder.put(image, "ReferringPhysicianName")
    ds.SharedFunctionalGroupsSequence = Sequence([_item(ReferencedImageSequence=Sequence([image]))])
    # A report text the table does not list either: free text is never kept unread.
    content = _item(
        ValueType="TEXT",
        ConceptNameCodeSequence=_code("121106", "DCM", "Comment"),
        TextValue=f"Report for {full_name}: {seeder.sentinel(_tag('TextValue'), free_text=True)}",
    )
    seeder.put(content, "PersonName")
    ds.ContentSequence = Sequence([content])


def _private(seeder: _Seeder, ds: Dataset) -> None:
    ds.add_new(0x00110010, "LO", PRIVATE_CREATOR)
    for element in (0x00111010, 0x00111011):
        ds.add_new(element, "LO", seeder.sentinel(element))
    ds.add_new(0x00190010, "LO", SAFE_CREATOR)
    ds.add_new(0x0019100C, "IS", "1000")  # B value: safe
    ds.add_new(0x00191008, "LO", seeder.sentinel(0x00191008))  # same block, not on the list


def _graphics(seeder: _Seeder, ds: Dataset) -> None:
    """An overlay plane with a label and description, and a retired curve with a label."""
    ds.add_new(0x60000010, "US", SIZE)
    ds.add_new(0x60000011, "US", SIZE)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", seeder.sentinel(0x60000022))
    ds.add_new(0x60001500, "LO", seeder.sentinel(0x60001500))
    ds.add_new(0x60003000, "OW", bytes(SIZE * SIZE // 8))
    ds.add_new(0x50002500, "LO", seeder.sentinel(0x50002500))


def write_phi_corpus(
    out_dir: Path, *, instances: int = 20, seed: int = 0, burn_text: bool = False
) -> PhiCorpus:
    """Write ``instances`` files under ``out_dir``; ``burn_text`` also draws the patient's name
    and ID into the pixels, for the pixel side of de-identification."""
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = PhiCorpus()
    seeder = _Seeder(corpus)
    slots = _slots(instances)
    sops = [generate_uid(entropy_srcs=[str(seed), "sop", str(n)]) for n in range(instances)]
    shuffle = random.Random(seed)
    for number, slot in enumerate(slots):
        same_patient = [n for n, other in enumerate(slots) if other.patient == slot.patient and n != number]
        referenced = sops[shuffle.choice(same_patient)] if same_patient else sops[number]
        uids = {
            "sop": sops[number],
            "study": generate_uid(entropy_srcs=[str(seed), "study", str(slot.patient)]),
            "series": generate_uid(entropy_srcs=[str(seed), "series", str(slot.patient), str(slot.series)]),
            "frame": generate_uid(entropy_srcs=[str(seed), "frame", str(slot.patient), str(slot.series)]),
            "referenced": referenced,
        }
        dates = _dates(slot)
        ds = _instance(seeder, slot, uids, dates, seed, burn_text)
        path = out_dir / f"p{slot.patient}_s{slot.series}_{slot.index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        corpus.paths.append(path)
        name, patient_id = PATIENTS[slot.patient][:2]
        corpus.originals.append(
            Original(
                path,
                patient_id,
                name,
                uids["sop"],
                uids["series"],
                uids["study"],
                uids["frame"],
                referenced,
                dates,
            )
        )
    return corpus
