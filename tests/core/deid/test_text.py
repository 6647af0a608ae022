"""Identifiers removed from free text, from the instance's own header and by their shape."""

from __future__ import annotations

import timeit
from collections.abc import Callable, Sequence

import pytest

from imagehub.core.deid.text import PLACEHOLDER, TextScrubber

HEADER = ["DOE^JOHN^Q", "1234567", "19700101"]


@pytest.fixture(scope="module")
def scrubber() -> TextScrubber:
    return TextScrubber()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pt John Doe, follow-up", "Pt [REDACTED], follow-up"),
        ("DOE^JOHN follow-up", "[REDACTED] follow-up"),
        ("seen with doe, john today", "seen with [REDACTED] today"),
        ("Mr. Doe's scan", "Mr. [REDACTED]'s scan"),
        ("record 1234567 reviewed", "record [REDACTED] reviewed"),
    ],
)
def test_names_and_ids_from_the_header_are_removed(scrubber: TextScrubber, text: str, expected: str) -> None:
    assert scrubber.clean(text, HEADER) == expected


def test_name_parts_are_whole_words_only(scrubber: TextScrubber) -> None:
    assert scrubber.clean("Johnson protocol, DOES NOT apply", HEADER) == "Johnson protocol, DOES NOT apply"


@pytest.mark.parametrize(
    ("text", "header", "expected"),
    [
        ("see QUIMBLEFORTH_AGATHA file", ["QUIMBLEFORTH^AGATHA"], "see [REDACTED] file"),
        ("AgathaQuimbleforth follow-up", ["QUIMBLEFORTH^AGATHA"], "[REDACTED] follow-up"),
        ("患者王伟复查", ["王^伟"], "患者[REDACTED]复查"),
        ("山田太郎さんの検査", ["Yamada^Tarou=山田^太郎=やまだ^たろう"], "[REDACTED]さんの検査"),
    ],
)
def test_names_glued_to_other_words_are_removed(
    scrubber: TextScrubber, text: str, header: list[str], expected: str
) -> None:
    assert scrubber.clean(text, header) == expected


def test_values_that_are_not_names_are_not_split(scrubber: TextScrubber) -> None:
    text = "General anaesthesia at the hospital"
    assert scrubber.clean(text, ["General Hospital of Springfield"]) == text
    assert scrubber.clean(
        "Sent from General Hospital of Springfield", ["General Hospital of Springfield"]
    ) == ("Sent from [REDACTED]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MRN: 7654321", "MRN: [REDACTED]"),
        ("Acc# A12345 prior", "Acc# [REDACTED] prior"),
        ("accession number 2021-88812 compared", "accession number [REDACTED] compared"),
        ("Patient ID 98765432", "Patient ID [REDACTED]"),
        ("contact jane.roe@example.org", "contact [REDACTED]"),
        ("call (617) 555-0134 for results", "call [REDACTED] for results"),
        ("SSN 219-09-9999", "SSN [REDACTED]"),
        ("prior 03/04/2021", "prior [REDACTED]"),
        ("prior 2021-03-04", "prior [REDACTED]"),
        ("prior 4 March 2021", "prior [REDACTED]"),
        ("prior Mar 4, 2021", "prior [REDACTED]"),
        ("acquired 20210304", "acquired [REDACTED]"),
        ("from 10.20.30.40", "from [REDACTED]"),
        ("see https://pacs.example.org/viewer", "see [REDACTED]"),
    ],
)
def test_identifiers_are_removed_by_their_shape(scrubber: TextScrubber, text: str, expected: str) -> None:
    assert scrubber.clean(text, []) == expected


@pytest.mark.parametrize(
    "text",
    [
        "CHEST 1.25mm",
        "AX T2 FSE 5x1",
        "CT ABD/PEL W CON 5mm",
        "LEFT KNEE 3 VIEWS",
        "Dose 12.5 mGy, DLP 432",
        "Series 3 of 12",
        "1.2.840.10008.5.1.4.1.1.2",
        "",
    ],
)
def test_clean_text_passes_unchanged(scrubber: TextScrubber, text: str) -> None:
    assert scrubber.clean(text, HEADER) == text


def test_findings_say_where_and_what_but_not_the_text(scrubber: TextScrubber) -> None:
    text = "John Doe, MRN 7654321, seen 03/04/2021"
    findings = scrubber.findings(text, HEADER)

    assert {finding.entity for finding in findings} == {"HEADER_PHI", "ID", "DATE_TIME"}
    assert [text[finding.start : finding.end] for finding in findings] == [
        "John",
        "Doe",
        "7654321",
        "03/04/2021",
    ]
    for finding in findings:
        assert set(vars(finding)) == {"entity", "start", "end"}
        assert not {"John", "Doe", "7654321"} & {str(value) for value in vars(finding).values()}


def test_clean_is_the_tag_engines_text_cleaner(scrubber: TextScrubber) -> None:
    clean: Callable[[str, Sequence[str]], str] = scrubber.clean
    assert clean("JOHN DOE", ("DOE^JOHN",)) == PLACEHOLDER


def test_a_call_on_a_short_text_takes_well_under_two_milliseconds(scrubber: TextScrubber) -> None:
    texts = ["CHEST 1.25mm", "Pt John Doe seen 03/04/2021", "MRN 1234567 prior"]

    def clean_all() -> None:
        for text in texts:
            scrubber.clean(text, HEADER)

    best = min(timeit.repeat(clean_all, number=20, repeat=5)) / (20 * len(texts))
    assert best < 0.002
