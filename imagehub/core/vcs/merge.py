"""Three-way merge of manifests on their merge base, path by path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from imagehub.core.errors import Conflict
from imagehub.core.vcs.deltas import Differ
from imagehub.core.vcs.nodes import EMPTY_TREE_ID
from imagehub.core.vcs.tree import RECORDED_CHANGES, Edit, NodeWriter, Tree
from imagehub.core.vcs.types import Entry, NodeId


class MergeStrategy(StrEnum):
    FAIL = "fail"  # any conflicting path stops the merge
    OURS = "ours"  # conflicting paths keep the destination's version
    THEIRS = "theirs"  # conflicting paths take the source's version


@dataclass(frozen=True)
class PathConflict:
    path: str
    base: Entry | None
    ours: Entry | None
    theirs: Entry | None

    def as_dict(self) -> dict[str, Any]:
        def side(entry: Entry | None) -> dict[str, Any] | None:
            return entry.as_dict() if entry else None

        return {
            "path": self.path,
            "base": side(self.base),
            "ours": side(self.ours),
            "theirs": side(self.theirs),
        }


def conflict_paths(conflicts: Sequence[PathConflict], shown: int = 5) -> str:
    """The first few conflicting paths, and how many more, for a one-line message."""
    named = ", ".join(c.path for c in conflicts[:shown])
    more = f" and {len(conflicts) - shown} more" if len(conflicts) > shown else ""
    return named + more


class MergeConflict(Conflict):
    """Both sides changed the same paths differently."""

    def __init__(self, conflicts: list[PathConflict]) -> None:
        super().__init__(f"merge conflict on {len(conflicts)} path(s): {conflict_paths(conflicts)}")
        self.conflicts = conflicts

    def details(self) -> dict[str, object]:
        return {"conflicts": [c.as_dict() for c in self.conflicts]}


def merge_trees(
    differ: Differ,
    *,
    base: NodeId,
    ours: NodeId,
    theirs: NodeId,
    strategy: MergeStrategy,
    writer: NodeWriter,
    ours_via: Sequence[NodeId] = (),
    theirs_via: Sequence[NodeId] = (),
    conflicts_keep_base: bool = False,
) -> tuple[NodeId, list[Edit]]:
    """The merged manifest, and the edits that made it from ``ours`` (none when it is one
    side's tree whole); raises MergeConflict under the ``fail`` strategy.
    ``conflicts_keep_base`` (for the virtual base of a criss-cross merge) gives a
    conflicting path its base version instead, whatever the strategy.

    Each side's changes come from recorded deltas when there are some: between the
    base and that side directly, or along the trees of its line of commits (``*_via``),
    so only the paths that changed are looked at.
    """
    if theirs in (base, ours):
        return ours, []
    if ours == base:
        _record_fast_forward(differ, base, theirs, theirs_via, writer)
        return theirs, []
    edits, conflicts = _combine(
        differ, base, ours, theirs, strategy, ours_via, theirs_via, conflicts_keep_base=conflicts_keep_base
    )
    if conflicts:
        raise MergeConflict(conflicts)
    return Tree(differ.reader).apply(ours, edits, writer), edits


def find_conflicts(
    differ: Differ,
    *,
    base: NodeId,
    ours: NodeId,
    theirs: NodeId,
    ours_via: Sequence[NodeId] = (),
    theirs_via: Sequence[NodeId] = (),
) -> list[PathConflict]:
    """The paths a ``fail`` merge would stop on, found as the merge finds them (the same
    diffs, skipping shared subtrees) but without building the merged manifest: a dry run
    cheap enough for every look at a proposal."""
    if theirs in (base, ours) or ours == base:
        return []
    return _combine(differ, base, ours, theirs, MergeStrategy.FAIL, ours_via, theirs_via)[1]


def _combine(
    differ: Differ,
    base: NodeId,
    ours: NodeId,
    theirs: NodeId,
    strategy: MergeStrategy,
    ours_via: Sequence[NodeId],
    theirs_via: Sequence[NodeId],
    *,
    conflicts_keep_base: bool = False,
) -> tuple[list[Edit], list[PathConflict]]:
    """The edits that bring ``theirs``'s changes onto ``ours``, and the paths both sides
    changed differently that ``strategy`` leaves unsettled."""
    our_changes = {c.path: c.right for c in differ.diff(base, ours, via=ours_via)}
    edits: list[Edit] = []
    conflicts: list[PathConflict] = []
    for change in differ.diff(base, theirs, via=theirs_via):
        if change.path not in our_changes:
            edits.append((change.path, change.right))
            continue
        ours_entry = our_changes[change.path]
        if ours_entry == change.right:
            continue  # both sides made the same change
        if conflicts_keep_base:
            edits.append((change.path, change.left))
        elif strategy is MergeStrategy.THEIRS:
            edits.append((change.path, change.right))
        elif strategy is MergeStrategy.FAIL:
            conflicts.append(PathConflict(change.path, change.left, ours_entry, change.right))
    return edits, conflicts


def _record_fast_forward(
    differ: Differ, base: NodeId, theirs: NodeId, via: Sequence[NodeId], writer: NodeWriter
) -> None:
    """A merge that takes the other side's tree whole makes no edit, hence no delta; its
    commit still gets one (composed along that side's line) when the line has them, so
    later diffs through it stay cheap."""
    changes = differ.recorded(base, theirs, via) if via else None
    if changes and len(changes) <= RECORDED_CHANGES and EMPTY_TREE_ID not in (base, theirs):
        writer.deltas[(base, theirs)] = changes
