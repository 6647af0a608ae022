"""One file through de-identification: NIfTI headers, odd inputs, and the leak check's reach."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from imagehub.core.deid import PROFILES, DateShifter, UidMapper
from imagehub.core.deid.instance import Policy, Tools, _leaks, deidentify_file
from imagehub.core.deid.recipe import parse_recipe
from imagehub.core.deid.text import TextScrubber


@pytest.fixture(scope="module")
def setup() -> tuple[Policy, Tools]:
    policy = Policy("basic", PROFILES["basic"], parse_recipe(""), None)
    return policy, Tools(UidMapper(b"k" * 32), DateShifter(b"k" * 32), TextScrubber())


@pytest.mark.parametrize("kind", [nib.Nifti1Image, nib.Nifti2Image])
def test_nifti_text_fields_and_extensions_are_cleared(kind: type, setup: tuple[Policy, Tools]) -> None:
    image = kind(np.zeros((4, 4, 3), dtype=np.int16), np.eye(4))
    image.header["descrip"] = b"DOE^JOHN scanned 2020"
    if "data_type" in image.header:
        image.header["data_type"] = b"DOEJOHN"
    image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"patient John Doe"))
    result = deidentify_file(gzip.compress(image.to_bytes()), *setup)
    assert result.output is not None, result.error
    output = gzip.decompress(result.output)
    assert b"DOE" not in output
    assert b"John" not in output
    assert kind.from_bytes(output).shape == (4, 4, 3)
    assert result.report["extensions_removed"] == 1


def test_unexpected_errors_withhold_the_file_without_quoting_it(setup: tuple[Policy, Tools]) -> None:
    tools = setup[1]
    bad = Policy("basic", PROFILES["basic"], parse_recipe("%header\nADD Rows abc"), None)
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    result = deidentify_file(data, bad, tools)
    assert result.output is None
    assert "abc" not in result.error
    assert result.error


def test_the_leak_check_reads_the_data_sets_character_set() -> None:
    stored = "x Müller^Jörg y".encode("latin-1")
    assert _leaks(stored, ["Müller^Jörg"], ["latin_1"]) == 1
    assert _leaks(b"made by TOSHIBA_MEC", ["TOSHIBA"]) == 0  # whole words only
    assert _leaks(b"seen: DOE JOHN today", ["DOE^JOHN"]) == 1
