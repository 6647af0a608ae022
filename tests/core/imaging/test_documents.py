"""Reports and RT objects read for people: content trees, regions, beams, dose grids."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging.documents import MAX_ITEMS, Item, read_document


def test_a_report_becomes_its_content_tree() -> None:
    document = read_document(get_testdata_file("test-SR.dcm"), "sr.dcm")
    assert document is not None
    assert document.kind == "structured report"
    assert ("Title", "Diagnosis") in document.facts
    container = document.items[1]
    assert (container.name, container.value) == ("(unnamed)", "")
    assert Item("Diameter", "3.0 cm", (Item("Code", "Sample Code"),)) in container.children


def count(items: tuple[Item, ...]) -> int:
    return sum(1 + count(item.children) for item in items)


def test_a_huge_report_is_cut_and_says_how_much_is_left_out() -> None:
    ds = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    text = ds.ContentSequence[2]  # a TEXT item
    ds.ContentSequence = Sequence([text] * (MAX_ITEMS + 10))
    out = io.BytesIO()
    ds.save_as(out)
    document = read_document(io.BytesIO(out.getvalue()), "big.dcm")
    assert document is not None
    assert count(document.items) == MAX_ITEMS
    assert document.omitted > 10


@pytest.mark.parametrize(
    ("name", "kind", "item"),
    [
        ("rtstruct.dcm", "RT structure set", Item("Isocenter 1", "1 contour, ISOCENTER")),
        ("rtplan.dcm", "RT plan", Item("Field 1", "STATIC, PHOTON, 2 control points, meterset 116.0036697")),
    ],
)
def test_rt_objects_list_their_regions_or_beams(name: str, kind: str, item: Item) -> None:
    document = read_document(get_testdata_file(name), name)
    assert document is not None
    assert document.kind == kind
    assert item in document.items


def test_an_rt_dose_says_its_grid() -> None:
    document = read_document(get_testdata_file("rtdose.dcm"), "dose.dcm")
    assert document is not None
    assert dict(document.facts)["Dose grid"] == "10 x 10 x 15"
    assert dict(document.facts)["Frame offsets"] == "0.0 to 70.0 mm"


def test_images_and_other_files_are_no_documents() -> None:
    assert read_document(get_testdata_file("CT_small.dcm"), "ct.dcm") is None
    assert read_document(io.BytesIO(b"just text"), "notes.txt") is None


def test_an_unreadable_file_is_one_clear_error() -> None:
    deflated = b"\x02\x00\x10\x00UI\x16\x00" + DeflatedExplicitVRLittleEndian.encode() + b"not deflate data"
    with pytest.raises(InvalidInput, match=r"cannot read broken\.dcm: Error -3"):
        read_document(io.BytesIO(b"\0" * 128 + b"DICM" + deflated), "broken.dcm")
