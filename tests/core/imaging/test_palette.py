"""Segmented colour tables expanded as PS3.3 C.7.9.2 describes, and sent to viewers as plain ones."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_color_lut

from imagehub.core.imaging.dicomjson import header
from imagehub.core.imaging.frames import read_header
from imagehub.core.imaging.palette import expand

SEGMENTED_FILE = "gdcm-US-ALOKA-16.dcm"  # pydicom-data: 16-bit tables in discrete and linear segments


@pytest.mark.parametrize(
    ("data", "table"),
    [
        ([0, 3, 10, 20, 30], [10, 20, 30]),
        ([0, 1, 0, 1, 4, 100], [0, 25, 50, 75, 100]),
        ([0, 1, 50, 1, 2, 50], [50, 50, 50]),  # a flat linear segment
        ([0, 2, 5, 6, 1, 2, 0, 2, 2, 0, 0], [5, 6, 3, 0, 5, 6, 3, 0]),  # indirect: copy both segments
        ([0, 2, 5, 6, 0], [5, 6]),  # a trailing pad word
    ],
    ids=["discrete", "linear", "flat", "indirect", "padded"],
)
def test_segments_expand(data: list[int], table: list[int]) -> None:
    assert expand(data) == table


def test_an_indirect_offset_counts_bytes() -> None:
    # Segment 2 starts at word 3, byte 6 of 16-bit data and byte 3 of 8-bit data.
    assert expand([0, 1, 7, 0, 1, 9, 2, 1, 6, 0]) == [7, 9, 9]
    assert expand([0, 1, 7, 0, 1, 9, 2, 1, 3, 0], entry_bytes=1) == [7, 9, 9]


@pytest.mark.parametrize(
    "data",
    [[1, 2, 10], [2, 1, 0, 0], [0, 5, 1, 2], [3, 1, 0], [0, 1, 1, 2, 1, 6, 0, 2, 1, 6, 0]],
    ids=["linear-first", "indirect-first", "short", "unknown", "nested-indirect"],
)
def test_malformed_segments_are_refused(data: list[int]) -> None:
    with pytest.raises(ValueError, match="segment"):
        expand(data)


def test_segmented_tables_reach_the_viewer_as_plain_ones_with_pydicoms_colours() -> None:
    path = Path(get_testdata_file(SEGMENTED_FILE))
    with io.BytesIO(path.read_bytes()) as stream:
        ds, layout = read_header(stream, path.name)
    built = header(ds, lambda p: f"bulk/{p}", pixel=(layout.tag, layout.vr) if layout else None)
    assert list(built) == sorted(built)
    assert built["00281221"] == {"vr": "OW", "BulkDataURI": "bulk/00281221"}  # still there, by reference
    tables = []
    for colour in "123":
        assert built[f"0028110{colour}"]["Value"] == [0, 0, 16]  # 65536 entries, from 0, 16 bits
        data = built[f"0028120{colour}"]
        assert data["vr"] == "OW"
        tables.append(np.frombuffer(base64.b64decode(data["InlineBinary"]), "<u2"))
    assert [len(t) for t in tables] == [65536] * 3
    full = pydicom.dcmread(path)
    stored = full.pixel_array
    ours = np.stack([t[stored] for t in tables], axis=-1)
    expected = apply_color_lut(stored, full)
    assert expected.std() > 1000  # not a black image
    np.testing.assert_array_equal(ours, expected)


def test_plain_tables_are_left_as_they_are() -> None:
    path = Path(get_testdata_file("OBXXXX1A.dcm"))
    with io.BytesIO(path.read_bytes()) as stream:
        ds, _ = read_header(stream, path.name)
    built = header(ds, lambda p: f"bulk/{p}")
    assert base64.b64decode(built["00281201"]["InlineBinary"]) == ds.RedPaletteColorLookupTableData
