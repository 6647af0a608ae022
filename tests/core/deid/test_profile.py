"""Profiles and options: what each makes of a table rule, and what each element then gets."""

from __future__ import annotations

import pytest

from imagehub.core.deid import PROFILES, Option, Profile
from imagehub.core.deid.actions import SHIFT, WALK, concrete, dummy, empty
from imagehub.core.deid.table import Rule, annex_e
from imagehub.core.errors import InvalidInput


def rule(tag: int) -> Rule:
    found = annex_e().rule_for(tag)
    assert found is not None
    return found


def test_the_basic_profile_takes_the_basic_column() -> None:
    basic = PROFILES["basic"]
    assert basic.options == frozenset()
    assert basic.action(rule(0x00100010)) == "Z"  # Patient's Name
    assert basic.action(rule(0x00081010)) == "X/Z/D"  # Station Name


def test_research_is_the_documented_set_of_options() -> None:
    assert PROFILES["research"].options == {
        Option.RETAIN_LONG_MODIFIED_DATES,
        Option.RETAIN_PATIENT_CHARACTERISTICS,
        Option.RETAIN_DEVICE_IDENTITY,
        Option.RETAIN_SAFE_PRIVATE,
        Option.CLEAN_DESCRIPTORS,
        Option.CLEAN_STRUCTURED_CONTENT,
        Option.CLEAN_PIXEL_DATA,
    }


def test_an_option_replaces_the_basic_action() -> None:
    research = PROFILES["research"]
    assert research.action(rule(0x00081010)) == "K"  # Station Name: Retain Device Identity
    assert research.action(rule(0x00101010)) == "K"  # Patient's Age: Retain Patient Characteristics
    assert research.action(rule(0x00080020)) == "C"  # Study Date: Retain Modified Dates
    assert research.action(rule(0x00081030)) == "C"  # Study Description: Clean Descriptors
    assert research.action(rule(0x00100010)) == "Z"  # no option touches the name


def test_where_chosen_options_disagree_the_less_disclosing_wins() -> None:
    calibration = rule(0x00181200)  # Date of Last Calibration: K for devices, C for modified dates
    assert calibration.options["retain_device_identity"] == "K"
    assert PROFILES["research"].action(calibration) == "C"
    assert Profile(frozenset({Option.RETAIN_DEVICE_IDENTITY})).action(calibration) == "K"


def test_full_and_modified_dates_exclude_each_other() -> None:
    with pytest.raises(InvalidInput):
        Profile(frozenset({Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_LONG_MODIFIED_DATES}))


def test_codes_name_the_profile_and_its_options() -> None:
    assert PROFILES["basic"].codes() == [("113100", "Basic Application Confidentiality Profile")]
    codes = dict(PROFILES["research"].codes())
    assert codes["113107"] == "Retain Longitudinal Temporal Information Modified Dates Option"
    assert set(codes) == {"113100", "113101", "113104", "113105", "113107", "113108", "113109", "113111"}


@pytest.mark.parametrize(
    ("code", "vr", "action"),
    [
        ("X/Z", "LO", "Z"),
        ("X/D", "DA", "D"),
        ("Z/D", "PN", "Z"),
        ("X/Z/D", "SH", "Z"),
        ("X/Z/U*", "SQ", WALK),  # kept, its UIDs replaced: references still resolve
        ("K", "SQ", WALK),
        ("C", "SQ", WALK),
        ("D", "SQ", "Z"),  # no made-up items
        ("X", "SQ", "X"),
        ("C", "DA", SHIFT),
        ("C", "DT", SHIFT),
        ("C", "TM", "K"),
        ("C", "LO", "C"),
        ("C", "AE", "D"),
        ("C", "OB", "X"),
        ("D", "UI", "U"),
        ("U", "UI", "U"),
    ],
)
def test_a_code_and_a_vr_make_one_action(code: str, vr: str, action: str) -> None:
    assert concrete(code, vr) == action


def test_dummies_and_empties_fit_their_vr() -> None:
    assert dummy("PN") == "ANONYMOUS"
    assert dummy("IS") == dummy("DS") == "0"
    assert dummy("DA") == "19000101"
    assert dummy("US") == 0
    assert dummy("OB") == b"\x00\x00"
    assert len(str(dummy("SH"))) <= 16
    assert len(str(dummy("AE"))) <= 16
    assert empty("LO") == ""
    assert empty("OB") == b""
    assert empty("US") is None
