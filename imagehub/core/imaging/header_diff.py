"""Tag-by-tag differences between two DICOM headers, for reviewing a change to one instance.

A reviewer asks "what did this edit do to the header?": which attributes were added, removed
or changed, down into sequence items. Values are shown as short display strings; binary values
(pixel data above all) are compared and shown by size and digest, never printed.

Pure: takes two parsed data sets, reads nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

# Values longer than this are shown cut, with their full length.
MAX_DISPLAY = 200
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "OB or OW", "US or OW"})
# Pixel data of every kind: compared by digest whatever its VR says.
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_DIGEST_CHARS = 12


class TagChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class TagChange:
    """One attribute that differs. ``path`` names it from the top of the data set, e.g.
    ``(0008,1115) ReferencedSeriesSequence[0] > (0020,000E) SeriesInstanceUID``."""

    path: str
    vr: str
    kind: TagChangeKind
    before: str | None  # display string; None when added
    after: str | None  # display string; None when removed
    meta: bool = False  # in the file meta information (group 0002), not the data set itself

    @property
    def keyword(self) -> str:
        """The last step's keyword (what a page shows in bold)."""
        return self.path.rsplit(" > ", 1)[-1].split(" ", 1)[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "vr": self.vr,
            "kind": self.kind.value,
            "before": self.before,
            "after": self.after,
            "meta": self.meta,
        }


@dataclass(frozen=True)
class _Value:
    vr: str
    key: Any  # what equality is decided on: the full text, or the digest of bytes
    display: str
    items: list[Dataset] | None = None  # sequences only


def diff_headers(before: Dataset, after: Dataset) -> list[TagChange]:
    """Every difference from ``before`` to ``after``: file meta first, then the data set in tag
    order, sequence items compared position by position right after their sequence."""
    changes = list(_diff(_meta(before), _meta(after), "", meta=True))
    changes.extend(_diff(before, after, "", meta=False))
    return changes


def tag_name(tag: int, ds: Dataset | None = None) -> str:
    """``(0008,103E) SeriesDescription``; private and unknown tags say so."""
    tag = Tag(tag)
    label = f"({tag.group:04X},{tag.element:04X})"
    keyword = _keyword(tag, ds)
    return f"{label} {keyword}"


def _keyword(tag: BaseTag, ds: Dataset | None) -> str:
    if tag.is_private:
        if tag.is_private_creator:
            return "[private creator]"
        creator = _creator(ds, tag) if ds is not None else ""
        return f"[private {creator}]" if creator else "[private]"
    return keyword_for_tag(tag) or ("GroupLength" if tag.element == 0 else "[unknown]")


def _creator(ds: Dataset, tag: BaseTag) -> str:
    """The private creator reserving ``tag``'s block, if the data set names one."""
    creator_tag = Tag(tag.group, tag.element >> 8)
    try:
        element = ds[creator_tag]
    except Exception:  # absent or malformed: the block stays anonymous
        return ""
    value = element.value
    if isinstance(value, bytes):
        value = value.decode("latin-1", errors="replace")
    return str(value).strip()


def _meta(ds: Dataset) -> Dataset:
    meta = getattr(ds, "file_meta", None)
    return meta if isinstance(meta, Dataset) else Dataset()


def _diff(before: Dataset, after: Dataset, prefix: str, *, meta: bool) -> Iterator[TagChange]:
    for tag in sorted(set(before.keys()) | set(after.keys())):
        if not meta and Tag(tag).group == 0x0002:
            continue  # a data set read without its meta group may hold meta tags: reported once
        name = prefix + tag_name(tag, after if tag in after else before)
        was = _value(before, tag) if tag in before else None
        now = _value(after, tag) if tag in after else None
        yield from _compare(name, was, now, meta=meta)


def _compare(name: str, was: _Value | None, now: _Value | None, *, meta: bool) -> Iterator[TagChange]:
    if was is None and now is None:
        return
    if was is None or now is None:
        present = now if was is None else was
        assert present is not None
        kind = TagChangeKind.ADDED if was is None else TagChangeKind.REMOVED
        yield TagChange(
            name,
            present.vr,
            kind,
            None if was is None else was.display,
            None if now is None else now.display,
            meta,
        )
        for number, item in enumerate(present.items or []):
            empty = Dataset()
            pair = (empty, item) if was is None else (item, empty)
            yield from _diff(*pair, f"{name}[{number}] > ", meta=meta)
        return
    if was.items is not None and now.items is not None:
        if len(was.items) != len(now.items):
            yield TagChange(name, "SQ", TagChangeKind.CHANGED, was.display, now.display, meta)
        for number in range(max(len(was.items), len(now.items))):
            old = was.items[number] if number < len(was.items) else Dataset()
            new = now.items[number] if number < len(now.items) else Dataset()
            yield from _diff(old, new, f"{name}[{number}] > ", meta=meta)
        return
    if was.vr != now.vr or was.key != now.key:
        vr = now.vr if was.vr == now.vr else f"{was.vr}→{now.vr}"
        yield TagChange(name, vr, TagChangeKind.CHANGED, was.display, now.display, meta)


def _value(ds: Dataset, tag: int) -> _Value:
    """The element's comparable value and display string; a malformed value is kept as raw bytes."""
    raw = ds.get_item(tag)
    raw_bytes = bytes(raw.value or b"") if isinstance(raw, RawDataElement) else None
    try:
        element = ds[tag]
    except Exception:  # bad VR or unparseable number: compare what the file holds
        return _binary("UN", raw_bytes or b"")
    return _element_value(element, tag)


def _element_value(element: DataElement, tag: int) -> _Value:
    vr = str(element.VR)
    value = element.value
    if vr == "SQ":
        items = list(value or [])
        count = len(items)
        return _Value("SQ", None, f"<SQ, {count} item{'' if count == 1 else 's'}>", items)
    if tag in _PIXEL_TAGS or vr in _BINARY_VRS or isinstance(value, bytes | bytearray):
        return _binary(vr, bytes(value or b""))
    text = _text(value, vr)
    return _Value(vr, text, _shorten(text))


def _binary(vr: str, data: bytes) -> _Value:
    digest = hashlib.sha256(data).hexdigest()
    return _Value(vr, digest, f"<{vr}, {len(data)} bytes, sha256 {digest[:_DIGEST_CHARS]}…>")


def _text(value: Any, vr: str) -> str:
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(_text(item, vr) for item in value)
    if vr == "UI" and value:
        uid = UID(str(value))
        return f"{uid} ({uid.name})" if uid.is_valid and uid.name != str(uid) else str(uid)
    return str(value)


def _shorten(text: str) -> str:
    if len(text) <= MAX_DISPLAY:
        return text
    return f"{text[:MAX_DISPLAY]}… ({len(text)} characters)"
