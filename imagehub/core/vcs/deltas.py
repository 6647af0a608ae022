"""Recorded deltas: the changes from one manifest to another, kept when an edit makes them.

An edit already reads every leaf it changes, so it knows each changed path's old and
new entry at no extra cost. Keeping that list, keyed by the pair of trees, answers the
diffs asked for most (a commit against its parent or a recent ancestor, both sides of a
merge) in time that follows the size of the change whatever the size of the dataset:
no tree node is read. Deltas along a line of commits compose.

A delta is derived data. The trees stay the truth: fsck compares every recorded delta
with a walk of its trees, and a delta that fails its checksum is ignored in favour of
that walk (and logged), so a damaged one can never change a diff or a merge.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from operator import attrgetter
from typing import Protocol

from imagehub.core.hashing import canonical_json
from imagehub.core.vcs.diff import diff_trees
from imagehub.core.vcs.nodes import NodeReader
from imagehub.core.vcs.types import Change, Entry, NodeId

log = logging.getLogger(__name__)

DeltaKey = tuple[NodeId, NodeId]  # (from tree, to tree)
COMPOSED_CHANGES = 50_000  # the most recorded changes read to compose one diff
_path = attrgetter("path")


class DeltaStore(Protocol):
    """Where encoded deltas persist (the database, in ImageHub)."""

    def get_many(self, keys: Iterable[DeltaKey]) -> dict[DeltaKey, bytes]:
        """The payloads of those deltas that were recorded."""

    def put_many(self, deltas: Mapping[DeltaKey, bytes]) -> None:
        """Record deltas; one already recorded stays as it is (it can only be equal)."""


def encode_delta(changes: Sequence[Change]) -> bytes:
    """A checksum, then the compressed changes as [old entry, new entry] pairs."""
    rows = [[list(c.left) if c.left else None, list(c.right) if c.right else None] for c in changes]
    body = zlib.compress(canonical_json(rows))
    return hashlib.sha256(body).digest() + body


def decode_delta(payload: bytes) -> list[Change] | None:
    """The changes, in path order; None when the payload fails its checksum."""
    checksum, body = payload[:32], payload[32:]
    if hashlib.sha256(body).digest() != checksum:
        return None
    changes = []
    for old, new in json.loads(zlib.decompress(body)):
        left = Entry._make(old) if old else None
        right = Entry._make(new) if new else None
        changes.append(Change.between(left, right))
    return changes


def _inverted(change: Change) -> Change:
    return Change.between(change.right, change.left)


def _decoded(payloads: Mapping[DeltaKey, bytes], left: NodeId, right: NodeId) -> list[Change] | None:
    """The changes from ``left`` to ``right`` out of a delta recorded either way."""
    for key, inverted in (((left, right), False), ((right, left), True)):
        if key not in payloads:
            continue
        changes = decode_delta(payloads[key])
        if changes is None:
            log.warning("delta %s..%s fails its checksum; walking the trees instead", *key)
            continue
        return [_inverted(c) for c in changes] if inverted else changes
    return None


def _composed(steps: Sequence[Sequence[Change]]) -> list[Change]:
    """One diff out of consecutive ones: each path from its first old entry to its last new one."""
    first: dict[str, Entry | None] = {}
    last: dict[str, Entry | None] = {}
    for step in steps:
        for change in step:
            first.setdefault(change.path, change.left)
            last[change.path] = change.right
    return [Change.between(first[p], last[p]) for p in sorted(last) if first[p] != last[p]]


class Differ:
    """Diffs of manifests: from a recorded delta when there is one, else by walking both trees."""

    def __init__(self, reader: NodeReader, deltas: DeltaStore) -> None:
        self.reader = reader
        self.deltas = deltas

    def recorded(self, left: NodeId, right: NodeId, via: Sequence[NodeId] = ()) -> list[Change] | None:
        """All changes from ``left`` to ``right``, if a delta was recorded (either way)
        between each two neighbours of the line ``left, *via, right``."""
        line: list[NodeId] = []
        for tree in (left, *via, right):
            if not line or line[-1] != tree:
                line.append(tree)  # a commit that left its tree as it was is no step
        steps = list(pairwise(line))
        if not steps:
            return []
        payloads = self.deltas.get_many([*steps, *((b, a) for a, b in steps)])
        composed: list[list[Change]] = []
        read = 0
        for a, b in steps:
            changes = _decoded(payloads, a, b)
            read += len(changes) if changes is not None else 0
            if changes is None or read > COMPOSED_CHANGES:
                return None
            composed.append(changes)
        return composed[0] if len(composed) == 1 else _composed(composed)

    def diff(
        self,
        left: NodeId,
        right: NodeId,
        start: str = "",
        end: str | None = None,
        *,
        eager: bool = True,
        via: Sequence[NodeId] = (),
    ) -> Iterator[Change]:
        """Changes from ``left`` to ``right`` with ``start <= path < end``, in path order;
        ``via`` names trees known to lie between them (the commits of a line of history)."""
        changes = self.recorded(left, right, via)
        if changes is None:
            return diff_trees(self.reader, left, right, start, end, eager=eager)
        lo = bisect_left(changes, start, key=_path) if start else 0
        hi = bisect_left(changes, end, key=_path) if end is not None else len(changes)
        return iter(changes[lo:hi])
