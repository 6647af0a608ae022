"""The tag side of de-identification: PS3.15 Annex E Table E.1-1 applied to a whole header.

Rules apply at every depth, inside sequence items as at the top. Where the table is silent
and the standard would keep, three safety rules go further: person names, dates and free
text (LT, ST, UT: a report's Text Value in a Content Sequence) that it does not list are
treated like those it does (a name is emptied, a date removed or shifted with the others,
free text removed or cleaned as a descriptor); and an overlay plane goes as a whole with
its Overlay Data, since its label and description are free text and the plane is invalid
without its data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset, FileDataset
from pydicom.tag import BaseTag, Tag

from imagehub.core.deid.actions import SHIFT, WALK, concrete, dummy, empty
from imagehub.core.deid.dates import DateShifter, shift_date, shift_datetime
from imagehub.core.deid.elements import put, values, vr_of
from imagehub.core.deid.method import mark_deidentified
from imagehub.core.deid.phi import header_phi
from imagehub.core.deid.profile import Option, Profile
from imagehub.core.deid.report import AttributeAction, TagReport, summary
from imagehub.core.deid.table import Rule, TagPattern, annex_e, format_tag, safe_private
from imagehub.core.deid.uids import UidMapper

TextCleaner = Callable[[str, Sequence[str]], str]
"""(text, the instance's own identifying strings) -> the text without them or any other PHI."""

_DATE_OPTIONS = {Option.RETAIN_LONG_FULL_DATES.value: "K", Option.RETAIN_LONG_MODIFIED_DATES.value: "C"}
_UNLISTED = {
    "PN": Rule("(gggg,eeee) PN", "Person Name not in Table E.1-1", "Z", {}),
    "DA": Rule("(gggg,eeee) DA", "Date not in Table E.1-1", "X/Z", _DATE_OPTIONS),
    "DT": Rule("(gggg,eeee) DT", "DateTime not in Table E.1-1", "X/Z", _DATE_OPTIONS),
    **{
        vr: Rule(
            f"(gggg,eeee) {vr}", "Free text not in Table E.1-1", "X", {Option.CLEAN_DESCRIPTORS.value: "C"}
        )
        for vr in ("LT", "ST", "UT")
    },
}
_OVERLAY_DATA = 0x60003000
# File Meta elements that name the sending system, or carry private data.
_META_REMOVED = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)

Hit = tuple[Rule, str]  # a rule and its action code under the profile


class _Plan:
    """Table E.1-1 compiled for one profile: each rule's action code, looked up by tag number."""

    def __init__(self, profile: Profile) -> None:
        table = annex_e()
        self.edition = table.edition
        self.exact: dict[int, Hit] = {tag: (rule, profile.action(rule)) for tag, rule in table.exact.items()}
        self.wildcards: tuple[tuple[TagPattern, Hit], ...] = tuple(
            (pattern, (rule, profile.action(rule))) for pattern, rule in table.wildcards
        )
        self.unlisted = {vr: (rule, profile.action(rule)) for vr, rule in _UNLISTED.items()}
        overlay = table.rule_for(_OVERLAY_DATA)
        self.overlay = (overlay, profile.action(overlay)) if overlay else None
        retain_private = profile.action(table.private) == "C"  # clean: keep what is known to be safe
        self.safe_private = safe_private() if retain_private else frozenset()
        self._others: dict[tuple[int, str], Hit | None] = {}  # tags not listed exactly, as met

    def hit(self, tag: int, vr: str) -> Hit | None:
        found = self.exact.get(tag)
        if found is None:
            key = (tag, vr)
            if key not in self._others:
                self._others[key] = self._other(tag, vr)
            found = self._others[key]
        return found

    def _other(self, tag: int, vr: str) -> Hit | None:
        for pattern, wildcard in self.wildcards:
            if pattern.matches(tag):
                return wildcard
        if self.overlay is not None and tag >> 24 == 0x60:
            return self.overlay
        return self.unlisted.get(vr)


@lru_cache(maxsize=16)
def _plan(profile: Profile) -> _Plan:
    return _Plan(profile)


@cache
def _keyword(tag: int) -> str:
    return keyword_for_tag(tag)


def _one_or_many(new: list[str]) -> str | list[str]:
    return new[0] if len(new) == 1 else (new or "")


class _Walker:
    def __init__(
        self, plan: _Plan, uids: UidMapper, days: int, clean_text: TextCleaner | None, deny: list[str]
    ):
        self.plan, self.uids, self.days = plan, uids, days
        self.clean_text, self.deny = clean_text, deny
        self.report = TagReport()

    def walk(self, ds: Dataset, prefix: str) -> None:
        creators: list[BaseTag] = []
        kept_blocks: set[tuple[int, int]] = set()
        for tag in list(ds.keys()):
            if tag.is_private:
                if tag.is_private_creator:
                    creators.append(tag)  # decided once its block is known to keep something or not
                elif self._safe_private(ds, tag):
                    kept_blocks.add((tag.group, tag.element >> 8))
                else:
                    del ds[tag]
                    self.report.private_removed += 1
                continue
            vr = vr_of(ds, tag)
            hit = self.plan.hit(int(tag), vr)
            if hit is not None:
                self._apply(ds, tag, vr, hit, prefix)
            elif vr == "SQ":
                self._items(ds, tag, prefix + format_tag(tag))
        for tag in creators:
            if (tag.group, tag.element) not in kept_blocks:
                del ds[tag]
                self.report.private_removed += 1

    def _safe_private(self, ds: Dataset, tag: BaseTag) -> bool:
        if not self.plan.safe_private:
            return False
        creator = ds.get(Tag(tag.group, tag.element >> 8))
        name = str(creator.value).strip() if creator is not None else ""
        return (name, tag.group, tag.element & 0xFF) in self.plan.safe_private

    def _items(self, ds: Dataset, tag: BaseTag, path: str) -> None:
        self.report.sequences_walked += 1
        for index, item in enumerate(ds[tag].value):
            self.walk(item, f"{path}[{index}].")

    def _apply(self, ds: Dataset, tag: BaseTag, vr: str, hit: Hit, prefix: str) -> None:
        """Elements are decoded only for the actions that read their value."""
        rule, code = hit
        action = concrete(code, vr)
        path = prefix + format_tag(tag)
        element = ds.get_item(tag)
        before = after = summary(vr, element.value if element is not None else None)
        if action == "X":
            del ds[tag]
            after = "removed"
        elif action == "Z" or (action == "C" and self.clean_text is None):
            # Free text without a cleaner is emptied, never kept as it was.
            put(ds, tag, vr, [] if vr == "SQ" else empty(vr))
            after = f"{vr}, empty"
        elif action == "D":
            put(ds, tag, vr, dummy(vr))
            after = f"{vr}, dummy"
        elif action == "U":
            new = _one_or_many([self.uids.map(str(value)) for value in values(ds[tag].value)])
            put(ds, tag, vr, new)
            after = "2.25…" if new else f"{vr}, empty"
        elif action == SHIFT:
            shift = shift_date if vr == "DA" else shift_datetime
            put(ds, tag, vr, _one_or_many([shift(str(value), self.days) for value in values(ds[tag].value)]))
            after = f"{vr}, shifted"
        elif action == "C":
            assert self.clean_text is not None  # emptied above otherwise
            new = _one_or_many([self.clean_text(str(value), self.deny) for value in values(ds[tag].value)])
            put(ds, tag, vr, new)
            after = summary(vr, new)
        elif action == WALK:
            self._items(ds, tag, path)
            action = "K"
        keyword = _keyword(tag) or rule.name
        self.report.actions.append(AttributeAction(path, keyword, vr, action, before, after))


def _file_meta(ds: Dataset, walker: _Walker) -> None:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    walker.walk(meta, "")
    for tag in _META_REMOVED:
        if tag in meta:
            walker.report.actions.append(
                AttributeAction(
                    format_tag(tag), keyword_for_tag(tag), meta[tag].VR, "X", "present", "removed"
                )
            )
            del meta[tag]
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def deidentify_dataset(
    ds: Dataset,
    *,
    profile: Profile,
    uids: UidMapper,
    dates: DateShifter,
    clean_text: TextCleaner | None = None,
) -> TagReport:
    """De-identify ``ds`` in place under ``profile`` and say what was done.

    Dates move by the offset of the original Patient ID, read before it is removed;
    free text (action C) goes through ``clean_text`` with the instance's own identifying
    strings as the deny-list, and is emptied when no cleaner is given.
    """
    plan = _plan(profile)
    days = dates.offset_days(str(ds.get("PatientID") or ""))
    deny = header_phi(ds) if clean_text is not None else []
    walker = _Walker(plan, uids, days, clean_text, deny)
    walker.walk(ds, "")
    _file_meta(ds, walker)
    if isinstance(ds, FileDataset) and ds.preamble:
        ds.preamble = b"\x00" * 128  # free for any use, so it may hold anything
    mark_deidentified(ds, profile, plan.edition)
    return walker.report
