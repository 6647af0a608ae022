"""Per-dataset custom rules in the `deid` recipe format (its ``%header`` section).

Applied after the profile, so a dataset can go further than Annex E (REMOVE a field
the profile keeps, BLANK or REPLACE a site-specific one, JITTER a date) or ADD a
project code. KEEP wins over the profile's removal only for non-identifying fields a
reviewer has cleared; that is the recipe author's call, recorded in the report.

    FORMAT dicom
    %header
    REMOVE InstitutionName
    REPLACE StudyDescription research scan
    ADD ClinicalTrialProtocolID PROTO-7
    JITTER StudyDate 14

Known device burn-in regions come from ``%filter`` blocks, as the `deid` package writes
them; a block names a modality (and optionally a manufacturer, rows, columns) and one or
more ``coordinates xmin,ymin,xmax,ymax`` that are blanked without OCR:

    %filter graylist
    LABEL Ultrasound banner
      contains Modality US
      + contains Manufacturer ACME
      coordinates 0,0,640,60
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from pydicom import Dataset
from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.tag import BaseTag, Tag

from imagehub.core.deid.pixels import RegionRule
from imagehub.core.errors import InvalidInput

MAX_JITTER_DAYS = 36500
ACTIONS = ("ADD", "BLANK", "JITTER", "KEEP", "REMOVE", "REPLACE")
_TAG = re.compile(r"^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?\Z")


@dataclass(frozen=True)
class RecipeAction:
    action: str
    field: str
    value: str
    tag: BaseTag
    line: int


@dataclass(frozen=True)
class Recipe:
    actions: tuple[RecipeAction, ...]
    regions: tuple[RegionRule, ...] = ()

    @property
    def kept(self) -> frozenset[BaseTag]:
        return frozenset(a.tag for a in self.actions if a.action == "KEEP")


def _tag(field: str, line: int) -> BaseTag:
    found = _TAG.match(field)
    if found:
        return Tag(int(found.group(1), 16), int(found.group(2), 16))
    number = tag_for_keyword(field)
    if number is None:
        raise InvalidInput(
            f"recipe line {line}: {field!r} is neither a DICOM keyword nor a tag like (0010,0010)"
        )
    return Tag(number)


class _RegionBlock:
    """One LABEL block of a ``%filter`` section while it is being read."""

    CRITERIA = {"modality": "Modality", "manufacturer": "Manufacturer", "rows": "Rows", "columns": "Columns"}

    def __init__(self, line: int) -> None:
        self.line = line
        self.found: dict[str, str] = {}
        self.boxes: list[tuple[int, int, int, int]] = []

    def add(self, words: list[str], number: int) -> None:
        words = words[1:] if words[0] == "+" else words
        if not words:
            raise InvalidInput(f"recipe line {number}: '+' must be followed by a criterion")
        if words[0].lower() == "coordinates" and len(words) == 2:
            corners = words[1].split(",")
            if len(corners) != 4 or not all(c.strip().isdigit() for c in corners):
                raise InvalidInput(f"recipe line {number}: coordinates are xmin,ymin,xmax,ymax in pixels")
            x0, y0, x1, y1 = (int(c) for c in corners)
            self.boxes.append((x0, y0, x1 - x0, y1 - y0))
            return
        field = (
            {v.lower(): k for k, v in self.CRITERIA.items()}.get(words[1].lower(), "")
            if len(words) > 2
            else ""
        )
        if words[0].lower() not in ("contains", "equals") or not field:
            raise InvalidInput(
                f"recipe line {number}: region filters understand 'contains/equals' on "
                f"{', '.join(self.CRITERIA.values())}, and 'coordinates'"
            )
        self.found[field] = " ".join(words[2:])

    def rule(self) -> RegionRule | None:
        if not self.boxes:
            return None  # a filter without coordinates flags, it does not blank: not ours
        if "modality" not in self.found:
            raise InvalidInput(f"recipe line {self.line}: a region needs 'contains Modality ...'")
        size = {k: int(self.found[k]) for k in ("rows", "columns") if self.found.get(k, "").isdigit()}
        return RegionRule(self.found["modality"], tuple(self.boxes), self.found.get("manufacturer"), **size)


def parse_recipe(text: str) -> Recipe:
    """Parse a recipe; any problem is one clear error naming its line."""
    actions: list[RecipeAction] = []
    blocks: list[_RegionBlock] = []
    section = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.upper().startswith("FORMAT"):
            continue
        if line.startswith("%"):
            if not line[1:].strip():
                raise InvalidInput(f"recipe line {number}: a section needs a name, e.g. %header")
            section = line[1:].split()[0].lower()
            continue
        if section == "filter":
            if line.upper().startswith("LABEL"):
                blocks.append(_RegionBlock(number))
            elif blocks:
                blocks[-1].add(line.split(), number)
            continue
        if section != "header":
            continue  # value and field lists belong to other tools
        parts = line.split(maxsplit=2)
        action = parts[0].upper()
        if action not in ACTIONS:
            raise InvalidInput(
                f"recipe line {number}: unknown action {parts[0]!r} (expected {', '.join(ACTIONS)})"
            )
        if len(parts) < 2:
            raise InvalidInput(f"recipe line {number}: {action} needs a field")
        value = parts[2] if len(parts) > 2 else ""
        if action in ("ADD", "REPLACE", "JITTER") and not value:
            raise InvalidInput(f"recipe line {number}: {action} needs a value")
        if action == "JITTER" and not (
            re.fullmatch(r"-?\d{1,5}", value) and abs(int(value)) <= MAX_JITTER_DAYS
        ):
            raise InvalidInput(f"recipe line {number}: JITTER takes whole days, at most {MAX_JITTER_DAYS}")
        tag = _tag(parts[1], number)
        if action == "ADD" and not dictionary_has_tag(tag):
            raise InvalidInput(f"recipe line {number}: ADD needs a standard attribute, not {parts[1]!r}")
        actions.append(RecipeAction(action, parts[1], value, tag, number))
    regions = tuple(rule for block in blocks if (rule := block.rule()) is not None)
    return Recipe(tuple(actions), regions)


def _jitter(value: str, days: int) -> str:
    try:
        shifted = date(int(value[:4]), int(value[4:6]), int(value[6:8])) + timedelta(days=days)
    except ValueError:
        return ""
    return shifted.strftime("%Y%m%d") + value[8:]


def apply_recipe(ds: Dataset, recipe: Recipe) -> list[tuple[str, str]]:
    """Apply the header actions at the top level; returns (keyword, action) pairs applied."""
    applied: list[tuple[str, str]] = []
    for item in recipe.actions:
        keyword = keyword_for_tag(item.tag) or str(item.tag)
        present = item.tag in ds
        if item.action == "REMOVE" and present:
            del ds[item.tag]
        elif item.action == "BLANK" and present:
            ds[item.tag].value = ""
        elif item.action == "REPLACE" and present:
            ds[item.tag].value = item.value
        elif item.action == "ADD":
            ds.add_new(item.tag, dictionary_VR(item.tag), item.value)
        elif item.action == "JITTER" and present and ds[item.tag].VR in ("DA", "DT"):
            ds[item.tag].value = _jitter(str(ds[item.tag].value), int(item.value))
        elif item.action != "KEEP":
            continue
        applied.append((keyword, item.action))
    return applied
