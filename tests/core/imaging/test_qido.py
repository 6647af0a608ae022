"""QIDO-RS query parsing and matching over plain instance records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagehub.core.imaging import InstanceMetadata, inspect
from imagehub.core.imaging.qido import (
    InvalidQuery,
    Level,
    Query,
    aggregate,
    parse_query,
    record,
    return_keys,
    search,
)
from imagehub.core.imaging.synthetic import ct_instance_bytes


def instance(study: str, series: str, sop: str, **values: Any) -> dict[str, Any]:
    base = {
        "StudyInstanceUID": study,
        "SeriesInstanceUID": series,
        "SOPInstanceUID": sop,
        "PatientName": "DOE^JANE",
        "PatientID": "P1",
        "StudyDate": "20240312",
        "StudyTime": "093000",
        "Modality": "CT",
        "SeriesNumber": 1,
        "InstanceNumber": 1,
    }
    return {**base, **values}


RECORDS = [
    instance("1.1", "1.1.1", "1.1.1.1", InstanceNumber=2),
    instance("1.1", "1.1.1", "1.1.1.2", InstanceNumber=1),
    instance("1.1", "1.1.2", "1.1.2.1", Modality="SR", SeriesNumber=2),
    instance("1.2", "1.2.1", "1.2.1.1", PatientName="SMITH^JOHN", PatientID="P2", StudyDate="20230101"),
    instance("1.3", "1.3.1", "1.3.1.1", PatientName="O'NEIL^ANN", StudyDate="20250601", Modality="MR"),
]


def uids(results: list[dict[str, Any]], keyword: str) -> list[str]:
    return [r[keyword] for r in results]


def find(level: Level, pairs: list[tuple[str, str]], **kwargs: Any) -> list[dict[str, Any]]:
    return search(aggregate(RECORDS), level, parse_query(pairs), **kwargs)


def test_studies_carry_the_required_keys_and_counts_of_their_instances() -> None:
    studies = find(Level.STUDY, [])
    assert uids(studies, "StudyInstanceUID") == ["1.2", "1.1", "1.3"]  # by study date
    first = studies[1]
    assert list(first) == return_keys(Level.STUDY, Query())
    assert first["ModalitiesInStudy"] == ["CT", "SR"]
    assert (first["NumberOfStudyRelatedSeries"], first["NumberOfStudyRelatedInstances"]) == (2, 3)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("PatientID", "P2")], ["1.2"]),
        ([("00100020", "P2")], ["1.2"]),  # by tag
        ([("PatientName", "doe*")], ["1.1"]),  # wildcards match names case-insensitively
        ([("PatientName", "?MITH^*")], ["1.2"]),
        ([("PatientName", "O'NEIL^ANN")], ["1.3"]),
        ([("StudyDate", "20240101-20241231")], ["1.1"]),
        ([("StudyDate", "-20240101")], ["1.2"]),
        ([("StudyDate", "20240312-")], ["1.1", "1.3"]),
        ([("StudyDate", "20230101")], ["1.2"]),
        ([("StudyInstanceUID", "1.2,1.3")], ["1.2", "1.3"]),
        ([("StudyInstanceUID", "1.2"), ("StudyInstanceUID", "1.1")], ["1.2", "1.1"]),
        ([("ModalitiesInStudy", "SR")], ["1.1"]),
        ([("ModalitiesInStudy", "MR\\SR")], ["1.1", "1.3"]),
        ([("Modality", "MR")], ["1.3"]),  # a series-level value finds the study holding it
        ([("StudyTime", "0930-0931")], ["1.2", "1.1", "1.3"]),
        ([("PatientID", "P2"), ("StudyDate", "20240312")], []),  # every filter must match
        ([("PatientID", ""), ("fuzzymatching", "true")], ["1.2", "1.1", "1.3"]),  # empty: any value
    ],
)
def test_study_matching(pairs: list[tuple[str, str]], expected: list[str]) -> None:
    assert uids(find(Level.STUDY, pairs), "StudyInstanceUID") == expected


def test_series_and_instances_are_ordered_by_number_and_scoped_by_the_url() -> None:
    series = find(Level.SERIES, [], fixed={Level.STUDY: "1.1"})
    assert uids(series, "SeriesInstanceUID") == ["1.1.1", "1.1.2"]
    assert "PatientName" not in series[0]  # the URL fixed the study: only its UID comes back
    assert series[0]["NumberOfSeriesRelatedInstances"] == 2
    within = find(
        Level.INSTANCE,
        [("includefield", "NumberOfStudyRelatedInstances")],
        fixed={Level.STUDY: "1.1", Level.SERIES: "1.1.1"},
    )
    assert uids(within, "SOPInstanceUID") == ["1.1.1.2", "1.1.1.1"]
    assert within[0]["NumberOfStudyRelatedInstances"] == 3  # the whole study, not the series the URL names
    unscoped = find(Level.SERIES, [("SeriesNumber", "2")])
    assert uids(unscoped, "SeriesInstanceUID") == ["1.1.2"]
    assert unscoped[0]["PatientName"] == "DOE^JANE"  # a search of all series returns study attributes
    instances = find(Level.INSTANCE, [("SeriesInstanceUID", "1.1.1")])
    assert uids(instances, "SOPInstanceUID") == ["1.1.1.2", "1.1.1.1"]
    assert instances[0]["Modality"] == "CT"


def test_limit_offset_and_includefield() -> None:
    every = uids(find(Level.INSTANCE, []), "SOPInstanceUID")
    page = find(Level.INSTANCE, [("offset", "1"), ("limit", "2")])
    assert uids(page, "SOPInstanceUID") == every[1:3]
    assert find(Level.INSTANCE, [("offset", "9")]) == []
    study = find(
        Level.STUDY, [("includefield", "BodyPartExamined,00080060"), ("includefield", "SOPClassUID")]
    )[0]
    assert "BodyPartExamined" not in study  # a series attribute is not a study's to return
    series = find(Level.SERIES, [("includefield", "BodyPartExamined")])[0]
    assert "BodyPartExamined" in series
    everything = find(Level.INSTANCE, [("includefield", "all")])[0]
    assert {"BodyPartExamined", "NumberOfStudyRelatedInstances", "Rows"} <= set(everything)


def test_duplicate_sop_instances_count_once() -> None:
    twice = [*RECORDS, RECORDS[0]]
    assert search(aggregate(twice), Level.STUDY, Query())[1]["NumberOfStudyRelatedInstances"] == 3


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("Nonsense", "1")], "unknown query key 'Nonsense'"),
        ([("99999999", "1")], "unknown query key"),
        ([("Manufacturer", "X")], "cannot search on Manufacturer"),
        ([("NumberOfStudyRelatedInstances", "3")], "cannot search on NumberOfStudyRelatedInstances"),
        ([("StudyDate", "2024-03-12")], "is not a YYYYMMDD value or range"),
        ([("StudyDate", "-")], "give at least one end"),
        ([("StudyDate", "2024*")], "is not a YYYYMMDD value or range"),
        ([("SeriesNumber", "two")], "SeriesNumber must be a whole number"),
        ([("limit", "-1")], "limit must be a whole number"),
        ([("includefield", "NotAKeyword")], "unknown query key 'NotAKeyword'"),
    ],
)
def test_bad_queries_say_what_is_wrong(pairs: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidQuery, match=message):
        parse_query(pairs)


def test_uid_filters_tell_the_caller_what_to_load() -> None:
    query = parse_query([("StudyInstanceUID", "1.2,1.3"), ("StudyInstanceUID", "1.4")])
    assert query.uids("StudyInstanceUID") == ("1.2", "1.3", "1.4")
    assert query.uids("SeriesInstanceUID") is None


def test_records_come_from_inspected_headers_with_study_attributes(tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm"
    path.write_bytes(ct_instance_bytes(seed=5, rows=32, columns=32))
    found = inspect(path, "ct.dcm")
    assert isinstance(found, InstanceMetadata)
    item = record(InstanceMetadata.from_dict(found.to_dict()).to_dict())
    assert "^" in item["PatientName"]
    assert len(item["StudyDate"]) == 8
    assert item["AccessionNumber"].startswith("ACC")
    assert item["ReferringPhysicianName"] == "HOUSE^GREGORY"
    assert item["PatientSex"] in ("F", "M")
    assert (len(item["PatientBirthDate"]), len(item["StudyTime"])) == (8, 6)
    assert (item["StudyID"], item["StudyDescription"]) == ("1", "CT CHEST ABDOMEN WITH CONTRAST")
    assert (item["Rows"], item["BitsAllocated"], item["NumberOfFrames"], item["Modality"]) == (
        32,
        16,
        1,
        "CT",
    )
    assert "BitsAllocated" in return_keys(Level.INSTANCE, Query())


def test_a_lone_star_matches_every_record_even_without_a_value() -> None:
    records = [*RECORDS, instance("1.4", "1.4.1", "1.4.1.1", PatientID=None, StudyDate="20260101")]
    every = search(aggregate(records), Level.STUDY, parse_query([("PatientID", "*")]))
    assert len(every) == 4
    assert "PatientID" in every[0]


@pytest.mark.parametrize(
    "sent", ["Yamada^Tarou", "山田^太郎", "*^Tarou", "やまだ*", "Yamada^Tarou=山田^太郎=やまだ^たろう"]
)
def test_a_name_matches_by_any_of_its_component_groups(sent: str) -> None:
    records = [
        *RECORDS,
        instance("1.5", "1.5.1", "1.5.1.1", PatientName="Yamada^Tarou=山田^太郎=やまだ^たろう"),
    ]
    found = search(aggregate(records), Level.STUDY, parse_query([("PatientName", sent)]))
    assert uids(found, "StudyInstanceUID") == ["1.5"]


def test_fuzzy_matching_is_noted_not_performed() -> None:
    assert parse_query([("fuzzymatching", "true")]).fuzzy
    assert not parse_query([("fuzzymatching", "false")]).fuzzy


def test_empty_value_matching_also_finds_instances_without_the_value() -> None:
    records = [
        *RECORDS,
        instance("1.4", "1.4.1", "1.4.1.1", PatientID=None),
        instance("1.5", "1.5.1", "1.5.1.1", PatientID=""),
    ]
    asked = [("PatientID", "P2")]
    assert uids(search(aggregate(records), Level.STUDY, parse_query(asked)), "StudyInstanceUID") == ["1.2"]
    with_empty = parse_query([*asked, ("emptyvaluematching", "true")])
    assert uids(search(aggregate(records), Level.STUDY, with_empty), "StudyInstanceUID") == [
        "1.2",
        "1.4",
        "1.5",
    ]


def test_multiple_value_matching_splits_any_value_at_commas() -> None:
    names = [("PatientName", "smith*,o'neil^ann")]
    assert find(Level.STUDY, names) == []  # one literal value, comma and all
    found = find(Level.STUDY, [*names, ("multiplevaluematching", "true")])
    assert uids(found, "StudyInstanceUID") == ["1.2", "1.3"]
    assert len(find(Level.STUDY, [("multiplevaluematching", "false"), ("emptyvaluematching", "false")])) == 3


def test_a_sop_instance_uid_reused_in_another_series_is_found_in_both() -> None:
    records = [*RECORDS, instance("1.1", "1.1.9", "1.1.1.1", SeriesNumber=9)]  # 1.1.1.1 again, elsewhere
    series = search(aggregate(records), Level.SERIES, parse_query([("StudyInstanceUID", "1.1")]))
    assert uids(series, "SeriesInstanceUID") == ["1.1.1", "1.1.2", "1.1.9"]
    studies = search(
        aggregate(records), Level.STUDY, parse_query([("includefield", "NumberOfStudyRelatedInstances")])
    )
    assert {s["StudyInstanceUID"]: s["NumberOfStudyRelatedInstances"] for s in studies}["1.1"] == 4
