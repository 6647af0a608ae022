"""QIDO-RS searches (PS3.18 §10.6) over indexed instance records: the query string, matching,
and grouping instances into studies and series.

Pure: the caller loads the records (one per instance, keyed by DICOM keyword) from the index
and ``aggregate``s them once, which it may keep for many searches. A study or series matches
when one of its instances matches every filter, so a study can be found by a series-level
value such as its Modality.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from imagehub.core.errors import ImageHubError

Record = Mapping[str, Any]  # DICOM keyword -> str, int, list of str, or None


class InvalidQuery(ImageHubError):
    """A query string a DICOMweb client should not have sent (answered with 400)."""


class Level(StrEnum):
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


# Where each indexed attribute lives in ``InstanceMetadata``, and the level it belongs to.
INDEXED: dict[str, tuple[str, Level]] = {
    "PatientName": ("patient_name", Level.STUDY),
    "PatientID": ("patient_id", Level.STUDY),
    "PatientBirthDate": ("patient_birth_date", Level.STUDY),
    "PatientSex": ("patient_sex", Level.STUDY),
    "StudyInstanceUID": ("study_instance_uid", Level.STUDY),
    "StudyDate": ("study_date", Level.STUDY),
    "StudyTime": ("study_time", Level.STUDY),
    "StudyID": ("study_id", Level.STUDY),
    "StudyDescription": ("study_description", Level.STUDY),
    "AccessionNumber": ("accession_number", Level.STUDY),
    "ReferringPhysicianName": ("referring_physician_name", Level.STUDY),
    "SeriesInstanceUID": ("series_instance_uid", Level.SERIES),
    "Modality": ("modality", Level.SERIES),
    "SeriesDescription": ("series_description", Level.SERIES),
    "SeriesNumber": ("series_number", Level.SERIES),
    "BodyPartExamined": ("body_part", Level.SERIES),
    "SOPInstanceUID": ("sop_instance_uid", Level.INSTANCE),
    "SOPClassUID": ("sop_class_uid", Level.INSTANCE),
    "InstanceNumber": ("instance_number", Level.INSTANCE),
    "Rows": ("rows", Level.INSTANCE),
    "Columns": ("columns", Level.INSTANCE),
    "BitsAllocated": ("bits_allocated", Level.INSTANCE),
    "NumberOfFrames": ("frames", Level.INSTANCE),
}
# Derived from a study's or series' instances rather than read from one header.
COMPUTED: dict[str, Level] = {
    "ModalitiesInStudy": Level.STUDY,
    "NumberOfStudyRelatedSeries": Level.STUDY,
    "NumberOfStudyRelatedInstances": Level.STUDY,
    "NumberOfSeriesRelatedInstances": Level.SERIES,
}
LEVEL_OF: dict[str, Level] = {**{k: level for k, (_, level) in INDEXED.items()}, **COMPUTED}
SEARCHABLE = frozenset(INDEXED) | {"ModalitiesInStudy"}
# The return keys PS3.18 Table 10.6.3-3 requires at each level (RetrieveURL is the caller's).
REQUIRED: dict[Level, tuple[str, ...]] = {
    Level.STUDY: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "StudyDescription",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    Level.SERIES: (
        "Modality",
        "SeriesDescription",
        "SeriesNumber",
        "SeriesInstanceUID",
        "NumberOfSeriesRelatedInstances",
    ),
    Level.INSTANCE: (
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
    ),
}
_ABOVE: dict[Level, tuple[Level, ...]] = {
    Level.STUDY: (),
    Level.SERIES: (Level.STUDY,),
    Level.INSTANCE: (Level.STUDY, Level.SERIES),
}
_UID_OF = {
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.INSTANCE: "SOPInstanceUID",
}
_LIST_VRS = frozenset({"UI", "CS"})  # a comma or backslash separates alternatives
_DATE = re.compile(r"^\d{8}\Z")
_TIME = re.compile(r"^\d{2,6}(\.\d{1,6})?\Z")


@dataclass(frozen=True)
class Filter:
    keyword: str
    values: tuple[str, ...]  # the alternatives, as sent
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Query:
    filters: tuple[Filter, ...] = ()
    include: frozenset[str] = frozenset()
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    fuzzy: bool = False  # fuzzy matching was asked for: matching stays literal, and the answer says so

    def uids(self, keyword: str) -> tuple[str, ...] | None:
        """The UIDs a UID filter allows, so that callers can narrow what they load; ``None`` when any."""
        allowed = [value for f in self.filters if f.keyword == keyword for value in f.values]
        return tuple(_split(",".join(allowed))) if allowed else None


def keyword_of(key: str) -> str:
    """A DICOM keyword, given as itself or as an eight-digit tag such as ``00100020``."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", key):
        keyword = keyword_for_tag(int(key, 16))
    else:
        keyword = key if tag_for_keyword(key) is not None else ""
    if not keyword:
        raise InvalidQuery(
            f"unknown query key {key!r}: use a DICOM keyword or tag (PatientID or 00100020), limit, "
            "offset, includefield, fuzzymatching, emptyvaluematching or multiplevaluematching"
        )
    return keyword


def parse_query(pairs: Iterable[tuple[str, str]]) -> Query:
    """The query string of a search; repeated keys are alternatives, empty values only ask for
    the attribute to be returned (universal matching). With ``multiplevaluematching=true`` a
    comma separates alternatives in any value (always in UIDs and codes); with
    ``emptyvaluematching=true`` an empty or absent value also matches a filter (PS3.4 C.2.2.2)."""
    values: dict[str, list[str]] = defaultdict(list)
    include: set[str] = set()
    include_all = False
    limit: int | None = None
    offset = 0
    flags = {"fuzzymatching": False, "emptyvaluematching": False, "multiplevaluematching": False}
    for key, value in pairs:
        if key in flags:
            flags[key] = value.lower() == "true"
        elif key == "limit":
            limit = _count(key, value)
        elif key == "offset":
            offset = _count(key, value)
        elif key == "includefield":
            for item in _split(value):
                if item == "all":
                    include_all = True
                else:
                    include.add(keyword_of(item))
        else:
            keyword = keyword_of(key)
            if keyword not in SEARCHABLE:
                raise InvalidQuery(f"cannot search on {keyword}; searchable: {', '.join(sorted(SEARCHABLE))}")
            include.add(keyword)
            if value not in ("", "*"):  # empty, or a lone "*": universal matching
                values[keyword].append(value)
    filters = tuple(
        Filter(k, tuple(v), _predicate(k, v, flags["multiplevaluematching"], flags["emptyvaluematching"]))
        for k, v in values.items()
    )
    return Query(filters, frozenset(include), include_all, limit, offset, flags["fuzzymatching"])


def record(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """One instance's searchable attributes from its stored ``InstanceMetadata`` dictionary."""
    return {keyword: metadata.get(field) for keyword, (field, _) in INDEXED.items()}


def search(
    records: Iterable[Record], level: Level, query: Query, *, fixed: Mapping[Level, str] | None = None
) -> list[dict[str, Any]]:
    """The matching studies, series or instances of ``aggregate``'s records, in a stable
    order, one page of them.

    ``fixed`` holds the UIDs the URL names (a search of one study's series): results lie
    inside them and carry only those UIDs for their levels, other results the attributes of
    the levels above them. Study and series counts are always of the whole study or series.
    """
    fixed = fixed or {}
    found: dict[tuple[str, ...], Record] = {}
    for full in records:
        inside = all(full.get(_UID_OF[lvl]) == uid for lvl, uid in fixed.items())
        if inside and all(f.test(full.get(f.keyword)) for f in query.filters):
            key = tuple(full[_UID_OF[lvl]] for lvl in (*_ABOVE[level], level))
            found.setdefault(key, full)
    ordered = sorted(found.values(), key=lambda r: _order(r, level))
    end = None if query.limit is None else query.offset + query.limit
    keys = return_keys(level, query, fixed=frozenset(fixed))
    return [{k: r.get(k) for k in keys} for r in ordered[query.offset : end]]


def return_keys(level: Level, query: Query, *, fixed: frozenset[Level] = frozenset()) -> list[str]:
    """Required keys of the level, the parents' (only their UIDs when fixed), and those asked for."""
    keys = list(REQUIRED[level])
    for above in _ABOVE[level]:
        keys += [_UID_OF[above]] if above in fixed else REQUIRED[above]
    allowed = {level, *_ABOVE[level]}
    extra = set(LEVEL_OF) if query.include_all else query.include
    keys += sorted(k for k in extra - set(keys) if LEVEL_OF.get(k) in allowed)
    return keys


def aggregate(records: Iterable[Record]) -> list[dict[str, Any]]:
    """Each instance (the first of a SOP Instance UID repeated in one series) with its study's
    and series' counts; a UID repeated in another series is that series' instance too.
    Attributes without a value are left out, which keeps many records small to hold."""
    by_study: dict[str, dict[tuple[str, str], Record]] = defaultdict(dict)
    for item in records:
        if item.get("StudyInstanceUID") and item.get("SeriesInstanceUID") and item.get("SOPInstanceUID"):
            key = (item["SeriesInstanceUID"], item["SOPInstanceUID"])
            by_study[item["StudyInstanceUID"]].setdefault(key, item)
    out = []
    for members in by_study.values():
        series = Counter(m["SeriesInstanceUID"] for m in members.values())
        study = {
            "ModalitiesInStudy": sorted({m["Modality"] for m in members.values() if m.get("Modality")}),
            "NumberOfStudyRelatedSeries": len(series),
            "NumberOfStudyRelatedInstances": len(members),
        }
        for member in members.values():
            count = series[member["SeriesInstanceUID"]]
            full = {**member, **study, "NumberOfSeriesRelatedInstances": count}
            out.append({keyword: value for keyword, value in full.items() if value is not None})
    return out


def _order(item: Record, level: Level) -> tuple[Any, ...]:
    study = (item.get("StudyDate") or "", item.get("StudyTime") or "", item["StudyInstanceUID"])
    series = (_number(item.get("SeriesNumber")), item["SeriesInstanceUID"])
    instance = (_number(item.get("InstanceNumber")), item["SOPInstanceUID"])
    return {Level.STUDY: study, Level.SERIES: study + series, Level.INSTANCE: study + series + instance}[
        level
    ]


def _number(value: Any) -> tuple[bool, int]:
    """Numbered before unnumbered, then by number."""
    return (value is None, value if isinstance(value, int) else 0)


def _count(key: str, value: str) -> int:
    if not value.isdigit():
        raise InvalidQuery(f"{key} must be a whole number, not {value!r}")
    return int(value)


def _split(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\\]", value) if item.strip()]


def _predicate(keyword: str, sent: Sequence[str], multiple: bool, empty: bool) -> Callable[[Any], bool]:
    """A test of one attribute's value against every alternative sent for it, passing empty
    values too when ``empty``."""
    test = _value_test(keyword, sent, multiple)
    return (lambda value: value in (None, "", []) or test(value)) if empty else test


def _value_test(keyword: str, sent: Sequence[str], multiple: bool) -> Callable[[Any], bool]:
    vr = dictionary_VR(keyword)
    split = multiple or vr in _LIST_VRS
    patterns = [item for value in sent for item in (_split(value) if split else [value])]
    if vr in ("DA", "TM"):
        ranges = [_range(vr, p) for p in patterns]
        return lambda value: (
            value is not None and any(low <= _comparable(vr, value) <= high for low, high in ranges)
        )
    if vr in ("IS", "US", "UL", "SL", "SS"):
        numbers = {_count(keyword, p) for p in patterns}
        return lambda value: value in numbers
    flags = re.IGNORECASE if vr == "PN" else 0
    compiled = [re.compile(_wildcard(p), flags) for p in patterns]

    def matches(value: Any) -> bool:
        candidates = [c for c in (value if isinstance(value, list) else [value]) if isinstance(c, str)]
        if vr == "PN":  # a name matches by its whole value or by any one of its component groups
            candidates += [group for c in candidates if "=" in c for group in c.split("=") if group]
        return any(pattern.fullmatch(c) for c in candidates for pattern in compiled)

    return matches


def _wildcard(pattern: str) -> str:
    """DICOM wildcards: ``*`` any run of characters, ``?`` exactly one."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _range(vr: str, pattern: str) -> tuple[str, str]:
    """``A``, ``A-B``, ``A-`` or ``-B``, as comparable bounds."""
    low, dash, high = pattern.partition("-")
    check = _DATE if vr == "DA" else _TIME
    for bound in (low, high):
        if bound and not check.match(bound):
            form = "YYYYMMDD" if vr == "DA" else "HHMMSS"
            raise InvalidQuery(
                f"{pattern!r} is not a {form} value or range ({form}-{form}, open ends allowed)"
            )
    if not low and not high:
        raise InvalidQuery(f"{pattern!r} is not a range: give at least one end")
    if not dash:
        return _comparable(vr, low), _comparable(vr, low)
    return (_comparable(vr, low) if low else "", _comparable(vr, high) if high else "\uffff")


def _comparable(vr: str, value: str) -> str:
    """Times compare as HHMMSS.ffffff so that ``0930`` equals ``093000``."""
    if vr != "TM":
        return value
    whole, _, fraction = value.replace(":", "").partition(".")
    return f"{whole.ljust(6, '0')}.{fraction.ljust(6, '0')}"
