"""Grouping DICOM instances into series, each in the order its slices lie in space."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from imagehub.core.imaging.geometry import slice_position
from imagehub.core.imaging.metadata import InstanceMetadata

Member = tuple[str, InstanceMetadata]


@dataclass(frozen=True)
class Series:
    series_instance_uid: str
    study_instance_uid: str | None
    modality: str | None
    series_description: str | None
    members: tuple[str, ...]  # keys, ordered along the slice normal


def group_series(items: Iterable[tuple[str, InstanceMetadata]]) -> list[Series]:
    """DICOM instances by SeriesInstanceUID; NIfTI files and instances without a series are left out.
    Series come back by series number, then UID, so listings are stable. An instance stored
    at several paths is a member once, at the first of them."""
    groups: dict[str, list[Member]] = defaultdict(list)
    for key, meta in items:
        if meta.kind == "dicom" and meta.series_instance_uid:
            groups[meta.series_instance_uid].append((key, meta))
    ordered = sorted(groups.items(), key=lambda group: (_series_number(group[1]), group[0]))
    return [_series(uid, members) for uid, members in ordered]


def order_members(members: Sequence[Member]) -> list[Member]:
    """By position along the slice normal when every member has geometry, then by instance
    number, then by key, so that the order never depends on upload order."""
    orientation = _common_orientation(members)
    if not all(meta.image_position for _, meta in members):
        orientation = None

    def sort_key(member: Member) -> tuple[float, int, str]:
        key, meta = member
        position = 0.0
        if orientation is not None and meta.image_position is not None:
            position = slice_position(meta.image_position, orientation)
        return position, meta.instance_number or 0, key

    return sorted(members, key=sort_key)


def _distinct(members: list[Member]) -> list[Member]:
    """One member per instance, the first by key: the same instance stored at two paths is
    one slice of the volume, not two at the same place. Slices that share a SOP Instance
    UID but lie at different places (a careless anonymiser's work) are different slices,
    and all of them stay."""
    seen: dict[tuple[object, ...], Member] = {}
    rest: list[Member] = []
    for key, meta in sorted(members, key=lambda member: member[0]):
        if meta.sop_instance_uid is None:
            rest.append((key, meta))
        else:
            identity = (meta.sop_instance_uid, meta.image_position, meta.instance_number)
            seen.setdefault(identity, (key, meta))
    return [*seen.values(), *rest]


def _series(uid: str, members: list[Member]) -> Series:
    members = _distinct(members)
    first = members[0][1]
    return Series(
        series_instance_uid=uid,
        study_instance_uid=first.study_instance_uid,
        modality=first.modality,
        series_description=first.series_description,
        members=tuple(key for key, _ in order_members(members)),
    )


def _common_orientation(members: Sequence[Member]) -> tuple[float, ...] | None:
    """The orientation most members share; a stray localizer does not decide the normal."""
    counts = Counter(meta.image_orientation for _, meta in members if meta.image_orientation)
    return counts.most_common(1)[0][0] if counts else None


def _series_number(members: list[Member]) -> int:
    return min((meta.series_number for _, meta in members if meta.series_number is not None), default=0)
