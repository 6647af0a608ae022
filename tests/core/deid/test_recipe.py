"""Custom rules in the `deid` recipe format: parsed as the `deid` package does, applied after the profile."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from imagehub.core.deid import PROFILES, DateShifter, Option, Profile, UidMapper
from imagehub.core.deid.instance import Policy, Tools, deidentify_file
from imagehub.core.deid.recipe import apply_recipe, parse_recipe
from imagehub.core.deid.text import TextScrubber
from imagehub.core.errors import InvalidInput

RECIPE = """FORMAT dicom

%header
REMOVE InstitutionName
BLANK (0008,1030)
REPLACE SeriesDescription research series   # a comment
ADD ClinicalTrialProtocolID PROTO-7
JITTER StudyDate 10
KEEP BodyPartExamined

%filter graylist
LABEL Banner of a test device
  contains Modality MR
  + contains Manufacturer toshiba
  coordinates 0,0,64,8
"""


def test_header_actions_parse_as_the_deid_package_reads_them(tmp_path: Path) -> None:
    from deid.config import DeidRecipe

    path = tmp_path / "deid.dicom"
    path.write_text(RECIPE)
    theirs = [
        (a["action"], a["field"], a.get("value", "").strip())  # deid keeps the blank before a comment
        for a in DeidRecipe(deid=str(path), base=False).get_actions()
    ]
    ours = [(a.action, a.field, a.value) for a in parse_recipe(RECIPE).actions]
    assert ours == theirs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("%header\nSHRED PatientName", "line 2: unknown action 'SHRED'"),
        ("%header\nREMOVE NotAKeyword", "line 2: 'NotAKeyword' is neither"),
        ("%header\nREPLACE PatientName", "line 2: REPLACE needs a value"),
        ("%header\nJITTER StudyDate soon", "JITTER takes whole days"),
        ("%filter graylist\nLABEL x\n  contains Modality US\n  coordinates 1,2,3", "line 4: coordinates are"),
        ("%filter graylist\nLABEL x\n  missing Manufacturer\n", "line 3: region filters understand"),
        ("%filter graylist\nLABEL x\n  coordinates 0,0,10,10\n", "line 2: a region needs"),
        ("%\nREMOVE PatientName", "line 1: a section needs a name"),
        ("%filter graylist\nLABEL x\n  +\n", "line 3: '\\+' must be followed"),
        ("%header\nADD (0009,1001) x", "line 2: ADD needs a standard attribute"),
        ("%header\nJITTER StudyDate 99999999", "JITTER takes whole days"),
    ],
)
def test_bad_recipes_fail_with_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_recipe(text)


def test_actions_apply_to_the_header() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.InstitutionName = "General Hospital"
    ds.StudyDate = "20200228"
    ds.SeriesDescription = "DOE chest"
    applied = dict(apply_recipe(ds, parse_recipe(RECIPE)))
    assert "InstitutionName" not in ds
    assert ds.StudyDescription == ""
    assert ds.SeriesDescription == "research series"
    assert ds.ClinicalTrialProtocolID == "PROTO-7"
    assert ds.StudyDate == "20200309"  # across the leap day
    assert applied["BodyPartExamined"] == "KEEP"


def test_keep_and_regions_work_end_to_end() -> None:
    source = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    source.BodyPartExamined = "HEAD"
    buffer = io.BytesIO()
    source.save_as(buffer)
    recipe = parse_recipe(RECIPE)
    profile = Profile(PROFILES["basic"].options | {Option.CLEAN_PIXEL_DATA}, "basic+pixels")
    policy = Policy("basic+pixels", profile, recipe, None, recipe.regions)
    tools = Tools(UidMapper(b"k" * 32), DateShifter(b"k" * 32), TextScrubber())
    result = deidentify_file(buffer.getvalue(), policy, tools)
    assert result.output is not None, result.error
    out = pydicom.dcmread(io.BytesIO(result.output))
    assert out.BodyPartExamined == "HEAD"  # basic would remove it; the recipe keeps it
    assert out.ClinicalTrialProtocolID == "PROTO-7"
    pixels = out.pixel_array
    assert np.all(pixels[0:8, 0:64] == pixels.min())  # the device banner is blanked without OCR
    assert result.needs_review
