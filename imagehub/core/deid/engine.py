"""The tag side of de-identification: PS3.15 Annex E Table E.1-1 applied to a whole header.

Rules apply at every depth, inside sequence items as at the top. Where the table is silent
and the standard would keep, safety rules go further: person names, dates and free text
(LT, ST, UT: a report's Text Value in a Content Sequence) that it does not list are
treated like those it does (a name is emptied, a date removed or shifted with the others,
free text removed or cleaned as a descriptor); an overlay plane goes as a whole with its
Overlay Data, since its label and description are free text and the plane is invalid
without its data; an attribute the data dictionary does not know (VR UN) goes, since what
it holds, items with names in them included, cannot be checked; and a safe private
attribute is kept only when stored under the VR the safe list gives it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import cache, lru_cache

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset, FileDataset

from imagehub.core.deid.actions import SHIFT, WALK, concrete, dummy, empty
from imagehub.core.deid.dates import DateShifter, shift_date, shift_datetime
from imagehub.core.deid.encoded import EncodedFile, Unsupported
from imagehub.core.deid.level import DatasetLevel, Level
from imagehub.core.deid.method import mark_deidentified
from imagehub.core.deid.phi import header_phi
from imagehub.core.deid.profile import Option, Profile
from imagehub.core.deid.report import AttributeAction, TagReport, summary
from imagehub.core.deid.table import Rule, TagPattern, annex_e, format_tag, safe_private
from imagehub.core.deid.uids import UidMapper
from imagehub.core.imaging.spans import known_vr

TextCleaner = Callable[[str, Sequence[str]], str]
"""(text, the instance's own identifying strings) -> the text without them or any other PHI."""

_DATE_OPTIONS = {Option.RETAIN_LONG_FULL_DATES.value: "K", Option.RETAIN_LONG_MODIFIED_DATES.value: "C"}
# Not in the dictionary: nothing says what it holds, whatever VR it was stored under.
_UNKNOWN = Rule("(gggg,eeee)", "Attribute unknown to the data dictionary", "X", {})
# A known sequence stored as UN: pydicom cannot read its items, so they cannot be walked.
_UNWALKABLE = Rule("(gggg,eeee) UN", "Sequence stored as UN", "X", {})
# UID attributes that name a class, a syntax or a scheme of the standard, never an instance.
_STANDARD_UID_WORDS = (
    "SOPClass",
    "TransferSyntax",
    "CodingScheme",
    "ImplementationClass",
    "ContextUID",
    "MappingResource",
    "ContextGroupExtensionCreator",
)
_UNLISTED = {
    # An instance, frame of reference or other UID the table does not list: replaced like
    # those it does, so no original UID survives to link the output back.
    "UI": Rule("(gggg,eeee) UI", "UID not in Table E.1-1", "U", {Option.RETAIN_UIDS.value: "K"}),
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
# File Meta elements that name the sending system (AE titles, presentation addresses), or
# carry private data.
_META_REMOVED = (
    *(0x00020016, 0x00020017, 0x00020018),
    *(0x00020026, 0x00020027, 0x00020028),
    *(0x00020100, 0x00020102),
)
_MEDIA_STORAGE_SOP_INSTANCE_UID, _SOP_INSTANCE_UID, _PATIENT_ID = 0x00020003, 0x00080018, 0x00100020
_IMPLEMENTATION_CLASS_UID, _IMPLEMENTATION_VERSION_NAME = 0x00020012, 0x00020013
# PS3.10 7.2: who wrote the file. A UUID-derived UID (uuid5 of ImageHub's name), fixed for good.
IMPLEMENTATION_CLASS_UID = "2.25.336912117297352273293459131345733451461"
IMPLEMENTATION_VERSION_NAME = "IMAGEHUB"
# Type 1C attributes whose condition is "the other one is present" (dependent -> condition).
_CONDITIONAL_ON = {0x00120081: 0x00120082}  # Ethics Committee Name -> its Approval Number

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
        self.unknown: Hit = (_UNKNOWN, "X")
        self.unwalkable: Hit = (_UNWALKABLE, "X")
        overlay = table.rule_for(_OVERLAY_DATA)
        self.overlay = (overlay, profile.action(overlay)) if overlay else None
        retain_private = profile.action(table.private) == "C"  # clean: keep what is known to be safe
        self.safe_private = safe_private() if retain_private else {}
        self._others: dict[tuple[int, str], Hit | None] = {}  # tags not listed exactly, as met

    def hit(self, tag: int, vr: str) -> Hit | None:
        if vr == "UN" and known_vr(tag) == "SQ":
            return self.unwalkable
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
        keyword = _keyword(tag)
        if not keyword:
            return None if tag & 0xFFFF == 0 else self.unknown  # group lengths: the writers' concern
        if vr == "UN" or (vr == "UI" and any(word in keyword for word in _STANDARD_UID_WORDS)):
            return None  # a known attribute merely stored as UN; a class or syntax UID
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
        self, plan: _Plan, uids: UidMapper, days: int, clean_text: TextCleaner | None, deny: Sequence[str]
    ):
        self.plan, self.uids, self.days = plan, uids, days
        self.clean_text, self.deny = clean_text, deny
        self.report = TagReport()

    def walk(self, level: Level, prefix: str) -> None:
        creators: list[int] = []
        kept_blocks: set[tuple[int, int]] = set()
        for tag in level.tags():
            group, element = tag >> 16, tag & 0xFFFF
            if group == 0xFFFE:  # an item or delimiter tag out of place: no attribute, and unchecked
                level.drop(tag)
                continue
            if group & 1:  # private
                if 0x0010 <= element < 0x0100:
                    creators.append(tag)  # decided once its block is known to keep something or not
                elif self._safe_private(level, tag):
                    kept_blocks.add((group, element >> 8))
                else:
                    level.drop(tag)
                    self.report.private_removed += 1
                continue
            vr = level.vr(tag)
            hit = self.plan.hit(tag, vr)
            if hit is not None:
                self._apply(level, tag, vr, hit, prefix)
            elif vr == "SQ":
                self._items(level, tag, prefix + format_tag(tag))
        for tag in creators:
            if (tag >> 16, tag & 0xFFFF) not in kept_blocks:
                level.drop(tag)
                self.report.private_removed += 1

    def _safe_private(self, level: Level, tag: int) -> bool:
        """On the safe list, and stored under the VR the list gives: a value whose VR is not
        known (implicit VR) or differs could be anything, a sequence of names included."""
        if not self.plan.safe_private:
            return False
        group, element = tag >> 16, tag & 0xFFFF
        name = level.text(group << 16 | element >> 8).strip()
        listed = self.plan.safe_private.get((name, group, element & 0xFF))
        return listed is not None and level.vr(tag) == listed

    def _items(self, level: Level, tag: int, path: str) -> None:
        self.report.sequences_walked += 1
        for index, item in enumerate(level.items(tag)):
            self.walk(item, f"{path}[{index}].")

    def _apply(self, level: Level, tag: int, vr: str, hit: Hit, prefix: str) -> None:
        """Elements are decoded only for the actions that read their value."""
        rule, code = hit
        action = concrete(code, vr)
        path = prefix + format_tag(tag)
        before = after = level.before(tag, vr)
        if action == "X":
            level.drop(tag)
            after = "removed"
        elif action == "Z" or (action == "C" and self.clean_text is None):
            # Free text without a cleaner is emptied, never kept as it was.
            level.put(tag, vr, [] if vr == "SQ" else empty(vr))
            after = f"{vr}, empty"
        elif action == "D":
            level.put(tag, vr, dummy(vr))
            after = f"{vr}, dummy"
        elif action == "U":
            new = _one_or_many([self.uids.map(str(value)) for value in level.values(tag)])
            level.put(tag, vr, new)
            after = "2.25…" if new else f"{vr}, empty"
        elif action == SHIFT:
            shift = shift_date if vr == "DA" else shift_datetime
            level.put(tag, vr, _one_or_many([shift(str(value), self.days) for value in level.values(tag)]))
            after = f"{vr}, shifted"
        elif action == "C":
            assert self.clean_text is not None  # emptied above otherwise
            new = _one_or_many([self.clean_text(str(value), self.deny) for value in level.values(tag)])
            level.put(tag, vr, new)
            after = summary(vr, new)
        elif action == WALK:
            self._items(level, tag, path)
            action = "K"
        keyword = _keyword(tag) or rule.name
        self.report.actions.append(AttributeAction(path, keyword, vr, action, before, after))


def _file_meta(top: Level, meta: Level, walker: _Walker) -> None:
    walker.walk(meta, "")
    for tag in _META_REMOVED:
        if meta.has(tag):
            walker.report.actions.append(
                AttributeAction(format_tag(tag), _keyword(tag), meta.vr(tag), "X", "present", "removed")
            )
            meta.drop(tag)
    if top.has(_SOP_INSTANCE_UID):
        new = [str(uid) for uid in top.values(_SOP_INSTANCE_UID)]
        meta.put(_MEDIA_STORAGE_SOP_INSTANCE_UID, "UI", _one_or_many(new))
    # The file is now ImageHub's writing, and the sender's version name may name its site.
    meta.put(_IMPLEMENTATION_CLASS_UID, "UI", IMPLEMENTATION_CLASS_UID)
    meta.put(_IMPLEMENTATION_VERSION_NAME, "SH", IMPLEMENTATION_VERSION_NAME)


def repair_conditionals(level: Level) -> None:
    """Type 1C attributes whose condition is "the other one is present": Annex E removes the
    other one, so these must go too or the output stops conforming."""
    for dependent, condition in _CONDITIONAL_ON.items():
        if level.has(dependent) and not level.has(condition):
            level.drop(dependent)


def _walk_all(
    top: Level,
    meta: Level | None,
    *,
    profile: Profile,
    uids: UidMapper,
    dates: DateShifter,
    clean_text: TextCleaner | None,
    deny: Sequence[str],
) -> TagReport:
    """Every step of the tag path that both kinds of level share."""
    plan = _plan(profile)
    days = dates.offset_days(top.text(_PATIENT_ID))
    walker = _Walker(plan, uids, days, clean_text, deny)
    walker.walk(top, "")
    if meta is not None:
        _file_meta(top, meta, walker)
    repair_conditionals(top)
    mark_deidentified(top, profile, plan.edition)
    return walker.report


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
    deny = header_phi(ds) if clean_text is not None else []
    meta = getattr(ds, "file_meta", None)
    report = _walk_all(
        DatasetLevel(ds),
        DatasetLevel(meta) if meta is not None else None,
        profile=profile,
        uids=uids,
        dates=dates,
        clean_text=clean_text,
        deny=deny,
    )
    if isinstance(ds, FileDataset) and ds.preamble:
        ds.preamble = b"\x00" * 128  # free for any use, so it may hold anything
    return report


def deidentify_encoded(
    data: bytes,
    *,
    profile: Profile,
    uids: UidMapper,
    dates: DateShifter,
    clean_text: TextCleaner | None = None,
    deny: Sequence[str] = (),
) -> tuple[bytes, TagReport]:
    """The same as ``deidentify_dataset`` followed by writing the file, done on the encoded
    bytes: elements nobody changes are copied as they are, and pydicom's model of the
    header is never built. ``deny`` is the cleaner's deny-list (``header_phi`` of the
    input), which the caller already holds when it has a cleaner.

    Raises ``Unsupported`` for encodings left to ``deidentify_dataset`` (big endian,
    deflated, no preamble, elements out of order, File Meta that pydicom would complete).
    """
    try:
        encoded = EncodedFile(data)
        report = _walk_all(
            encoded.dataset,
            encoded.meta,
            profile=profile,
            uids=uids,
            dates=dates,
            clean_text=clean_text,
            deny=deny,
        )
        return encoded.write(), report
    except struct.error as exc:  # a length pointing past the end of the file
        raise Unsupported("an element runs past the end of the file") from exc
