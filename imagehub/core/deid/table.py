"""PS3.15 Annex E as committed data: Table E.1-1 and the safe private attributes of Table E.3.10-1.

The JSON files under ``standard/`` are generated (``scripts/generate_annex_e.py``) or curated,
never fetched at run time. They are parsed once per process into tag-number lookups, so that
walking a header costs one dict probe per element.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from imagehub.core.errors import InvalidInput

ACTION_CODES = frozenset({"X", "Z", "D", "K", "C", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"})


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1."""

    tag: str  # as the standard writes it, "x" for any hex digit: "(0010,0010)", "(60xx,3000)"
    name: str
    basic: str  # the Basic Profile's action code: "X", "Z", "X/Z/D"...
    options: Mapping[str, str]  # option name -> action code, only where the option changes it


@dataclass(frozen=True)
class TagPattern:
    """A tag with wildcard nibbles: matches when the fixed nibbles agree."""

    mask: int
    value: int

    @property
    def exact(self) -> bool:
        return self.mask == 0xFFFFFFFF

    def matches(self, tag: int) -> bool:
        return tag & self.mask == self.value


def parse_tag(text: str) -> TagPattern:
    """``"(0010,0010)"`` or ``"(60xx,3000)"`` as a pattern; anything else is refused."""
    if len(text) != 11 or text[0] + text[5] + text[10] != "(,)":
        raise InvalidInput(f"not a DICOM tag like (0010,0010): {text!r}")
    mask = value = 0
    for digit in (text[1:5] + text[6:10]).lower():
        mask, value = mask << 4, value << 4
        if digit == "x":
            continue
        if digit not in "0123456789abcdef":
            raise InvalidInput(f"not a DICOM tag like (0010,0010): {text!r}")
        mask, value = mask | 0xF, value | int(digit, 16)
    return TagPattern(mask, value)


@cache
def format_tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass(frozen=True)
class AnnexE:
    """Table E.1-1 of one edition, split into exact tags and the few wildcard rows."""

    edition: str
    source: str
    exact: Mapping[int, Rule]
    wildcards: tuple[tuple[TagPattern, Rule], ...]
    private: Rule  # the row for all private attributes

    def rule_for(self, tag: int) -> Rule | None:
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        return next((rule for pattern, rule in self.wildcards if pattern.matches(tag)), None)


def _rule(row: Mapping[str, Any]) -> Rule:
    codes = [row["basic"], *row.get("options", {}).values()]
    unknown = [code for code in codes if code not in ACTION_CODES]
    if unknown:
        raise InvalidInput(f"{row['tag']}: unknown action code(s) {unknown}")
    return Rule(row["tag"], row["name"], row["basic"], dict(row.get("options", {})))


def _read(name: str) -> Any:
    return json.loads(files("imagehub.core.deid.standard").joinpath(name).read_text(encoding="utf-8"))


# Attributes the committed edition's table does not list that carry a birth or death
# date all the same: removed, as the table removes Patient's Birth Time. A later edition
# that lists one of them decides for it.
SUPPLEMENT = (
    {"tag": "(0010,0033)", "name": "Patient's Birth Date in Alternative Calendar", "basic": "X"},
    {"tag": "(0010,0034)", "name": "Patient's Death Date in Alternative Calendar", "basic": "X"},
    {"tag": "(0010,0035)", "name": "Patient's Alternative Calendar", "basic": "X"},
)


@cache
def annex_e() -> AnnexE:
    """The committed Table E.1-1, with ``SUPPLEMENT`` for what it lacks."""
    data = _read("annex_e.json")
    exact: dict[int, Rule] = {}
    wildcards: list[tuple[TagPattern, Rule]] = []
    listed = {row["tag"] for row in data["attributes"]}
    for row in [*data["attributes"], *(row for row in SUPPLEMENT if row["tag"] not in listed)]:
        rule, pattern = _rule(row), parse_tag(row["tag"])
        if pattern.exact:
            exact[pattern.value] = rule
        else:
            wildcards.append((pattern, rule))
    return AnnexE(data["edition"], data["source"], exact, tuple(wildcards), _rule(data["private"]))


@cache
def safe_private() -> Mapping[tuple[str, int, int], str]:
    """(private creator, group, element within its block) of each attribute safe to retain,
    with the VR the table gives it: a value stored under any other VR is not that attribute."""
    safe: dict[tuple[str, int, int], str] = {}
    for row in _read("safe_private.json")["attributes"]:
        pattern = parse_tag(row["tag"])  # "(0019,xx0C)": the block byte is the wildcard
        safe[(row["creator"], pattern.value >> 16, pattern.value & 0xFF)] = row["vr"]
    return safe


EDITION = annex_e().edition  # the DICOM edition Table E.1-1 was taken from, e.g. "2026d"
