"""The identifying strings an instance carries in its own header.

Free text (descriptions, comments, report text) often repeats them: the patient's name in
"DOE JANE seen today", the accession number in a comment. They are the deny-list a text
cleaner must remove, and what a leak check searches the output for.
"""

from __future__ import annotations

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from imagehub.core.deid.elements import values, vr_of

MIN_LENGTH = 3  # shorter strings ("M", "CT") match innocent text everywhere

# Identifying attributes that are not person names; every PN attribute counts as well.
_KEYWORDS = (
    "PatientID",
    "OtherPatientIDs",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientBirthDateInAlternativeCalendar",
    "PatientDeathDateInAlternativeCalendar",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "MedicalRecordLocator",
    "MilitaryRank",
    "BranchOfService",
    "RegionOfResidence",
    "AccessionNumber",
    "StudyID",
    "AdmissionID",
    "ServiceEpisodeID",
    "RequestedProcedureID",
    "ScheduledProcedureStepID",
    "PerformedProcedureStepID",
    "PlacerOrderNumberImagingServiceRequest",
    "FillerOrderNumberImagingServiceRequest",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "PersonAddress",
    "PersonTelephoneNumbers",
    "ResponsibleOrganization",
    "StationName",
    "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID",
    "ClinicalTrialSiteName",
)
_TAGS = frozenset(tag for tag in map(tag_for_keyword, _KEYWORDS) if tag is not None)


def _variants(value: str, vr: str) -> list[str]:
    """A person name as stored, as written in prose ("AGATHA QUIMBLEFORTH") and in the
    stored order with spaces, and each of its components on its own."""
    if vr != "PN":
        return [value]
    found = [value]
    for group in value.split("="):  # alphabetic, ideographic and phonetic forms
        family, given, middle, prefix, suffix = (group.split("^") + [""] * 5)[:5]
        found += [family, given, middle, prefix, suffix]
        found.append(" ".join(part for part in (prefix, given, middle, family, suffix) if part))
        found.append(" ".join(part for part in group.split("^") if part))
    return found


def _collect(ds: Dataset, found: set[str]) -> None:
    for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset would decode every element
        vr = vr_of(ds, tag)
        if vr == "SQ":
            for item in ds[tag].value:
                _collect(item, found)
        elif vr == "PN" or tag in _TAGS:
            for value in values(ds[tag].value):
                found.update(text.strip() for text in _variants(str(value), vr))


def header_phi(ds: Dataset) -> list[str]:
    """The identifying strings of ``ds`` and its sequences, longest first, none under 3 characters."""
    found: set[str] = set()
    _collect(ds, found)
    return sorted((text for text in found if len(text) >= MIN_LENGTH), key=lambda text: (-len(text), text))
