"""STOW-RS (PS3.18 §10.5): which uploaded parts are storable instances, where they are kept in
a dataset, and the response that tells the client instance by instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from pydicom.uid import UID

from imagehub.core.imaging.dicomjson import Urls, attributes
from imagehub.core.imaging.metadata import Unreadable
from imagehub.core.imaging.probe import inspect
from imagehub.core.imaging.qido import InvalidQuery
from imagehub.core.imaging.sniff import sniff

DICOM = "application/dicom"  # what every part of a store request must be
# Failure reasons (PS3.18 Table 10.5.3-2, PS3.4 Annex GG).
DUPLICATE = 0x0111  # the SOP Instance UID is stored already, with other content
STUDY_MISMATCH = 0xA900  # the instance does not belong to the study of the URL
CANNOT_UNDERSTAND = 0xC000
_COMMENT_LENGTH = 64  # ErrorComment is LO: a detail says why first, its UIDs are elsewhere in the item


@dataclass(frozen=True)
class Part:
    """One part of a store request: the media type its header declares, and its bytes."""

    media_type: str
    body: BinaryIO


@dataclass(frozen=True)
class Accepted:
    sop_class: str
    sop: str
    study: str
    series: str

    @property
    def path(self) -> str:
        """Where STOW-RS keeps the instance in a dataset: one folder per study and series."""
        return f"dicom/{self.study}/{self.series}/{self.sop}.dcm"


@dataclass(frozen=True)
class Rejected:
    sop_class: str | None
    sop: str | None
    reason: int
    detail: str


def require_study(study: str) -> None:
    """The study a store URL names must be a UID, or no instance could belong to it."""
    if not UID(study).is_valid:
        raise InvalidQuery(f"{study[:100]!r} is not a Study Instance UID")


def check(part: Part, name: str, study: str | None) -> Accepted | Rejected:
    """A DICOM Part-10 file, declared as one, with valid SOP Class, SOP Instance, Study and
    Series UIDs, of ``study`` when the URL names one."""
    if part.media_type != DICOM:
        return Rejected(None, None, CANNOT_UNDERSTAND, f"{name} is {part.media_type!r}, not {DICOM}")
    stream = part.body
    if sniff(stream) != "dicom":
        return Rejected(None, None, CANNOT_UNDERSTAND, f"{name} is not a DICOM Part-10 file (no DICM marker)")
    found = inspect(stream, name)
    if isinstance(found, Unreadable):
        return Rejected(None, None, CANNOT_UNDERSTAND, f"{name}: {found.reason}")
    uids = {
        "SOP Class UID": found.sop_class_uid,
        "SOP Instance UID": found.sop_instance_uid,
        "Study Instance UID": found.study_instance_uid,
        "Series Instance UID": found.series_instance_uid,
    }
    bad = [label for label, value in uids.items() if not value or not UID(value).is_valid]
    if bad:
        detail = f"{name}: missing or invalid {', '.join(bad)}"
        return Rejected(found.sop_class_uid, found.sop_instance_uid, CANNOT_UNDERSTAND, detail)
    accepted = Accepted(
        str(found.sop_class_uid),
        str(found.sop_instance_uid),
        str(found.study_instance_uid),
        str(found.series_instance_uid),
    )
    if study is not None and accepted.study != study:
        detail = f"{name} is of another study than the URL names: {accepted.study}"
        return Rejected(accepted.sop_class, accepted.sop, STUDY_MISMATCH, detail)
    return accepted


def response(
    urls: Urls, study: str | None, stored: Sequence[Accepted], failed: Sequence[Rejected]
) -> dict[str, dict[str, Any]]:
    """The Store Instances response: the study's URL (when there is one study), what was
    stored and where to retrieve it, and what failed and why."""
    studies = {study} if study else {item.study for item in stored}
    referenced = [
        {
            "ReferencedSOPClassUID": item.sop_class,
            "ReferencedSOPInstanceUID": item.sop,
            "RetrieveURL": urls.instance(item.study, item.series, item.sop),
        }
        for item in stored
    ]
    failures = [
        {
            "ReferencedSOPClassUID": item.sop_class,
            "ReferencedSOPInstanceUID": item.sop,
            "FailureReason": item.reason,
            "ErrorComment": item.detail[:_COMMENT_LENGTH],
        }
        for item in failed
    ]
    values: dict[str, Any] = {
        "RetrieveURL": urls.study(studies.pop()) if len(studies) == 1 else None,
        "ReferencedSOPSequence": referenced,
        "FailedSOPSequence": failures,
    }
    return attributes(values)
