"""Tag-by-tag header diffs: values, added and removed tags, sequences, pixel data, file meta."""

from __future__ import annotations

import copy

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagehub.core.imaging.header_diff import MAX_DISPLAY, TagChangeKind, diff_headers, tag_name
from imagehub.core.imaging.synthetic import ct_instance


@pytest.fixture
def before() -> Dataset:
    ds = ct_instance(rows=16, columns=16)
    item = Dataset()
    item.SeriesInstanceUID = "1.2.3.4"
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.ReferencedSeriesSequence = Sequence([item])
    return ds


def by_path(changes: list) -> dict:
    return {change.path: change for change in changes}


def test_identical_headers_have_no_changes(before: Dataset) -> None:
    assert diff_headers(before, copy.deepcopy(before)) == []


def test_a_changed_description_is_reported_with_both_values(before: Dataset) -> None:
    before.SeriesDescription = "CHEST"
    after = copy.deepcopy(before)
    after.SeriesDescription = "Chest, corrected"
    [change] = diff_headers(before, after)
    assert change.path == "(0008,103E) SeriesDescription"
    assert (change.vr, change.kind, change.before, change.after) == (
        "LO",
        TagChangeKind.CHANGED,
        "CHEST",
        "Chest, corrected",
    )
    assert change.keyword == "SeriesDescription"
    assert not change.meta


def test_added_and_removed_tags_in_tag_order(before: Dataset) -> None:
    before.ProtocolName = "old protocol"
    after = copy.deepcopy(before)
    del after.ProtocolName
    after.ImageComments = "motion at slice 4"
    after.add_new(0x00091010, "LO", "vendor value")  # private, without a creator
    changes = diff_headers(before, after)
    found = by_path(changes)
    assert found["(0020,4000) ImageComments"].kind is TagChangeKind.ADDED
    assert found["(0020,4000) ImageComments"].before is None
    assert found["(0018,1030) ProtocolName"].kind is TagChangeKind.REMOVED
    assert found["(0018,1030) ProtocolName"].after is None
    assert found["(0009,1010) [private]"].kind is TagChangeKind.ADDED
    assert [c.path[:11] for c in changes] == ["(0009,1010)", "(0018,1030)", "(0020,4000)"]


def test_a_sequence_item_change_names_the_item(before: Dataset) -> None:
    after = copy.deepcopy(before)
    after.ReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.3.5"
    [change] = diff_headers(before, after)
    assert change.path == "(0008,1115) ReferencedSeriesSequence[0] > (0020,000E) SeriesInstanceUID"
    assert (change.before, change.after) == ("1.2.3.4", "1.2.3.5")


def test_an_added_sequence_item_reports_the_count_and_its_attributes(before: Dataset) -> None:
    after = copy.deepcopy(before)
    extra = Dataset()
    extra.SeriesInstanceUID = "9.9"
    after.ReferencedSeriesSequence.append(extra)
    changes = diff_headers(before, after)
    assert (changes[0].path, changes[0].before, changes[0].after) == (
        "(0008,1115) ReferencedSeriesSequence",
        "<SQ, 1 item>",
        "<SQ, 2 items>",
    )
    assert changes[1].path == "(0008,1115) ReferencedSeriesSequence[1] > (0020,000E) SeriesInstanceUID"
    assert changes[1].kind is TagChangeKind.ADDED


def test_pixel_data_is_compared_and_shown_by_digest(before: Dataset) -> None:
    after = copy.deepcopy(before)
    pixels = bytearray(before.PixelData)
    pixels[0] ^= 0xFF
    after.PixelData = bytes(pixels)
    [change] = diff_headers(before, after)
    assert change.path == "(7FE0,0010) PixelData"
    assert change.before
    assert change.after
    for shown in (change.before, change.after):
        assert shown.startswith(f"<{change.vr}, {len(pixels)} bytes, sha256 ")
    assert change.before != change.after
    assert len(change.after) < 80  # never the bytes themselves


def test_file_meta_changes_come_first_and_are_marked(before: Dataset) -> None:
    after = copy.deepcopy(before)
    before.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    after.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    after.SeriesDescription = "other"
    changes = diff_headers(before, after)
    assert changes[0].path == "(0002,0010) TransferSyntaxUID"
    assert changes[0].meta
    assert "Implicit VR Little Endian" in (changes[0].after or "")
    assert not changes[-1].meta


def test_long_values_are_cut_with_their_length(before: Dataset) -> None:
    after = copy.deepcopy(before)
    after.ImageComments = "x" * (MAX_DISPLAY + 50)
    [change] = diff_headers(before, after)
    assert change.after == "x" * MAX_DISPLAY + f"… ({MAX_DISPLAY + 50} characters)"


def test_tag_names() -> None:
    assert tag_name(0x0008103E) == "(0008,103E) SeriesDescription"
    assert tag_name(0x00091010) == "(0009,1010) [private]"
