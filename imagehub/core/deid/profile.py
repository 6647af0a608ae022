"""Which Annex E options a de-identification applies, and what that makes of each table rule.

An option's column in Table E.1-1 replaces the Basic Profile's action for that attribute.
Where two chosen options disagree about one attribute (a device's calibration date under
Retain Device Identity and Retain Modified Dates), the action that discloses less wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from imagehub.core.deid.table import Rule
from imagehub.core.errors import InvalidInput


class Option(StrEnum):
    """Options of PS3.15 Annex E; the values are the option keys of ``standard/annex_e.json``."""

    RETAIN_SAFE_PRIVATE = "retain_safe_private"
    RETAIN_UIDS = "retain_uids"
    RETAIN_DEVICE_IDENTITY = "retain_device_identity"
    RETAIN_INSTITUTION_IDENTITY = "retain_institution_identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain_patient_characteristics"
    RETAIN_LONG_FULL_DATES = "retain_long_full_dates"
    RETAIN_LONG_MODIFIED_DATES = "retain_long_modified_dates"
    CLEAN_DESCRIPTORS = "clean_descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean_structured_content"
    CLEAN_GRAPHICS = "clean_graphics"
    CLEAN_PIXEL_DATA = "clean_pixel_data"  # no table column: the pixel step reads it


# DCM codes of CID 7050 "De-identification Method", written into every output instance.
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
OPTION_CODES: dict[Option, tuple[str, str]] = {
    Option.CLEAN_PIXEL_DATA: ("113101", "Clean Pixel Data Option"),
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONG_FULL_DATES: ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    Option.RETAIN_LONG_MODIFIED_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
}

_LEAST_DISCLOSING_FIRST = ("X", "Z", "D", "C", "U", "K")


@dataclass(frozen=True)
class Profile:
    """The Basic Profile plus ``options``; ``name`` is what reports and the output header call it."""

    options: frozenset[Option] = frozenset()
    name: str = "custom"

    def __post_init__(self) -> None:
        if {Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_LONG_MODIFIED_DATES} <= self.options:
            raise InvalidInput(
                "choose one of retain_long_full_dates and retain_long_modified_dates, not both"
            )

    def action(self, rule: Rule) -> str:
        """The table's action code for ``rule`` under this profile (may be a choice like "X/Z")."""
        chosen = [code for option, code in rule.options.items() if option in self.options]
        if not chosen:
            return rule.basic
        return min(chosen, key=_LEAST_DISCLOSING_FIRST.index)

    def codes(self) -> list[tuple[str, str]]:
        """CID 7050 (code value, meaning) pairs: the Basic Profile first, then the options in code order."""
        return [BASIC_PROFILE_CODE, *sorted(OPTION_CODES[option] for option in self.options)]


PROFILES: dict[str, Profile] = {
    "basic": Profile(frozenset(), "basic"),
    "research": Profile(
        frozenset(
            {
                Option.RETAIN_LONG_MODIFIED_DATES,
                Option.RETAIN_PATIENT_CHARACTERISTICS,
                Option.RETAIN_DEVICE_IDENTITY,
                Option.RETAIN_SAFE_PRIVATE,
                Option.CLEAN_DESCRIPTORS,
                Option.CLEAN_STRUCTURED_CONTENT,
                Option.CLEAN_PIXEL_DATA,
            }
        ),
        "research",
    ),
}
