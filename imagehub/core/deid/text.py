"""Identifiers in free text (descriptions, comments, reports) that the tag rules keep.

Presidio's pattern recognizers find emails, phone numbers, dates and similar on a blank spaCy
pipeline: no statistical model is loaded, so nothing is downloaded and a call on a short value
costs about half a millisecond. What only the instance knows, its patient's name and IDs,
comes in per call as a deny-list. Findings carry offsets and a type, never the text they
cover, so that they can be logged and reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import spacy
from presidio_analyzer import (
    AnalyzerEngine,
    ContextAwareEnhancer,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)
from presidio_analyzer.recognizer_registry import RecognizerRegistry
from tldextract import TLDExtract

PLACEHOLDER = "[REDACTED]"
LANGUAGE = "en"
# Shorter deny-list terms ("MR", an initial) would blank innocent words everywhere.
MIN_TERM_LENGTH = 3
GLUED_MIN_LATIN = 5  # a Latin name part this long is found inside other words too
# Local phone formats looked for; international ones (+44 ...) are found whatever the region.
# Each region costs about a tenth of a millisecond per call.
PHONE_REGIONS = ("US", "GB", "DE", "FR")
# Distinct deny-lists kept compiled; an instance's list repeats for every file of its patient.
DENY_CACHE_SIZE = 1024

# Labels after which a number is a record, accession or patient identifier.
_ID_LABEL = (
    r"(?:MRN|MR\s*(?:#|No\.?|Number)|medical\s+record(?:\s+(?:#|No\.?|Number))?"
    r"|patient\s*(?:ID|#|No\.?|Number)|PID|acc(?:ession)?\s*(?:#|No\.?|Number)?"
    r"|chart\s*(?:#|No\.?|Number)?|case\s*(?:#|No\.?|Number)|ID\s*(?:#|No\.?|Number)?)"
)
# Only the identifier is matched (a variable-length look-behind), so "MRN: [REDACTED]" keeps its label.
_LABELLED_ID = rf"(?<=\b{_ID_LABEL}\s*[:#=.]?\s*)(?=[A-Z0-9-]*\d{{4}})[A-Z0-9-]+"
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE_SEPARATOR = r"[\s./-]+"
# "4 March 2021", "Mar 4, 2021", "04-MAR-2021", "Jan 2020": month names, which presidio's dates miss.
_WRITTEN_DATE = (
    rf"\b(?:{_DAY}{_DATE_SEPARATOR})?{_MONTH}\.?(?:{_DATE_SEPARATOR}{_DAY})?,?{_DATE_SEPARATOR}\d{{4}}\b"
)
# DICOM DA and DT values copied into text: 19700101, 20210304123000.123.
_DICOM_DATE = r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:\d{2,6}(?:\.\d{1,6})?)?\b"
# Presidio's IPv4 pattern also matches inside dotted DICOM UIDs; these bounds do not.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?:/(?:[12]?\d|3[0-2]))?(?!\.?\d)"
_PERSON_NAME = re.compile(r"[\^=]")  # the component and group separators of DICOM's PN
_NAME_SEPARATORS = re.compile(r"[\^=,\s-]+")
_JOINING_GAP = re.compile(r"[\s^,_]*")


@dataclass(frozen=True)
class Finding:
    """Where an identifier was found and what kind it is; deliberately without its text."""

    entity: str
    start: int
    end: int


class _BlankSpacyEngine(SpacyNlpEngine):
    """Tokenisation only: the recognizers used are patterns, so no trained model is needed,
    and presidio would otherwise download one."""

    def load(self) -> None:
        self.nlp = {LANGUAGE: spacy.blank(LANGUAGE)}  # type: ignore[assignment]  # presidio types it None


class _NoContext(ContextAwareEnhancer):
    """Context words only raise scores, and here every score counts; the default enhancer
    also compares lemmas, which a blank pipeline does not produce, at a third of the cost."""

    def __init__(self) -> None:
        super().__init__(0, 0, 0, 0)

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        return raw_results


class _OfflineEmailRecognizer(EmailRecognizer):
    """Validates the domain against tldextract's bundled suffix list instead of fetching one."""

    _domains = TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return self._domains(pattern_text).fqdn != ""


def _pattern(entity: str, name: str, regex: str, score: float) -> PatternRecognizer:
    return PatternRecognizer(supported_entity=entity, name=name, patterns=[Pattern(name, regex, score)])


def _recognizers(phone_regions: Sequence[str]) -> list[EntityRecognizer]:
    ipv6 = [pattern for pattern in IpRecognizer.PATTERNS if pattern.name != "IPv4"]
    return [
        _OfflineEmailRecognizer(),
        PhoneRecognizer(supported_regions=tuple(phone_regions)),
        UrlRecognizer(),
        IpRecognizer(patterns=[Pattern("IPv4", _IPV4, 0.6), *ipv6]),
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        DateRecognizer(),
        _pattern("DATE_TIME", "written date", _WRITTEN_DATE, 0.6),
        _pattern("DATE_TIME", "DICOM date", _DICOM_DATE, 0.6),
        _pattern("ID", "labelled identifier", _LABELLED_ID, 0.8),
    ]


def _terms(value: str) -> list[str]:
    """A header value and, when it is a DICOM person name, each part of it: "DOE^JOHN" is also
    written "John Doe" or "Doe, John". Other values stay whole, or an institution's name would
    blank every "general" and "hospital" in the text."""
    whole = value.strip(" ^=")
    parts = _NAME_SEPARATORS.split(whole) if _PERSON_NAME.search(whole) else []
    return [term for term in (whole, *parts) if len(term) >= MIN_TERM_LENGTH]


def _glued(value: str) -> list[str]:
    """Parts of a person name that are found even inside other words: "QUIMBLEFORTH_AGATHA",
    "AgathaQuimbleforth", "王伟" in a sentence written without spaces. Latin parts from five
    letters (a shorter one, "JOHN", would blank "Johnson"), others from two characters, and
    each group's family and given names written together."""
    if not _PERSON_NAME.search(value):
        return []
    found: list[str] = []
    for group in value.split("="):
        family, given = ([*group.split("^"), ""])[:2]
        found += [part for part in _NAME_SEPARATORS.split(group) if part]
        if family and given:
            found += [family + given, given + family]
    return [term for term in found if len(term) >= (GLUED_MIN_LATIN if term.isascii() else 2)]


def _longest_first(terms: set[str]) -> list[str]:
    # The alternation takes the first that matches: "DOE^JOHN" must beat "DOE".
    return sorted(terms, key=lambda term: (-len(term), term))


@lru_cache(maxsize=DENY_CACHE_SIZE)
def _deny_recognizer(deny_list: tuple[str, ...]) -> PatternRecognizer | None:
    terms = {term for value in deny_list for term in _terms(value)}
    glued = {term for value in deny_list for term in _glued(value)}
    if not terms and not glued:
        return None
    inside = "|".join(map(re.escape, _longest_first(glued)))
    return PatternRecognizer(
        supported_entity="HEADER_PHI",
        name="header values",
        deny_list=_longest_first(terms),
        patterns=[Pattern("name inside a word", inside, 0.9)] if glued else [],
    )


class TextScrubber:
    """Build once per worker (building the analyzer takes a fraction of a second), then call
    ``clean`` for every free-text value."""

    def __init__(self, *, phone_regions: Sequence[str] = PHONE_REGIONS) -> None:
        """``phone_regions``: ISO country codes whose national phone formats are looked for."""
        self._analyzer = AnalyzerEngine(
            registry=RecognizerRegistry(
                recognizers=_recognizers(phone_regions), supported_languages=[LANGUAGE]
            ),
            nlp_engine=_BlankSpacyEngine(),
            supported_languages=[LANGUAGE],
            context_aware_enhancer=_NoContext(),
        )

    def findings(self, text: str, deny_list: Sequence[str]) -> list[Finding]:
        """Every identifier in ``text``, in order; overlapping findings of different kinds all stay."""
        if not text.strip():
            return []
        deny = _deny_recognizer(tuple(deny_list))
        results: list[RecognizerResult] = self._analyzer.analyze(
            text, language=LANGUAGE, ad_hoc_recognizers=[deny] if deny else None
        )
        found = {Finding(result.entity_type, result.start, result.end) for result in results}
        return sorted(found, key=lambda finding: (finding.start, finding.end, finding.entity))

    def clean(self, text: str, deny_list: Sequence[str]) -> str:
        """``text`` with each identifier, overlapping ones merged, replaced by ``PLACEHOLDER``."""
        pieces: list[str] = []
        done = 0
        for start, end in _merged(text, self.findings(text, deny_list)):
            pieces += [text[done:start], PLACEHOLDER]
            done = end
        return "".join([*pieces, text[done:]])


def _merged(text: str, findings: list[Finding]) -> list[tuple[int, int]]:
    """Spans of sorted findings with overlaps joined, so that an email and the URL inside it
    are one; so are neighbours apart only by separators ("DOE^JOHN", "John Doe")."""
    spans: list[tuple[int, int]] = []
    for finding in findings:
        if spans and _JOINING_GAP.fullmatch(text, spans[-1][1], max(finding.start, spans[-1][1])):
            spans[-1] = (spans[-1][0], max(spans[-1][1], finding.end))
        else:
            spans.append((finding.start, finding.end))
    return spans
