"""Diff of two manifests that never descends into a subtree both sides share.

Both trees are walked as streams in path order; a stream expands a node only when
the other side does not present the very same node at the same position, so the
cost follows the size of the change, not of the dataset.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import cast

from imagehub.core.vcs.nodes import ChildRef, Item, Node, NodeReader
from imagehub.core.vcs.tree import _child_index
from imagehub.core.vcs.types import Change, ChangeKind, Entry, NodeId

_key = itemgetter(0)
EAGER_NODES = 1024  # nodes per level loaded ahead of the walk


class _Stream:
    """Pending items of one tree, the next one last; nodes are expanded lazily."""

    def __init__(self, reader: NodeReader, root: NodeId, start: str, end: str | None) -> None:
        self.reader = reader
        self.start = start
        self.end = end
        self.stack: list[Item] = [ChildRef(start, root, 0)]

    def head(self) -> Item | None:
        while self.stack:
            item = self.stack[-1]
            if self.end is not None and item[0] >= self.end:
                self.stack.clear()  # everything after lies beyond the range too
                return None
            if isinstance(item, Entry) and item.path < self.start:
                self.stack.pop()
                continue
            return item
        return None

    def level(self, ref: ChildRef) -> int:
        return self.reader.get(ref.node).level

    def expand(self) -> list[Item]:
        """Replace the head node by its children; return the children pushed."""
        ref = self.stack.pop()
        assert isinstance(ref, ChildRef)
        node = self.reader.get(ref.node)
        first = _child_index(node, self.start) if self.start and node.level > 0 else 0
        children = [c for c in node.items[first:] if self.end is None or c[0] < self.end]
        self.stack.extend(reversed(children))
        return children


def diff_trees(
    reader: NodeReader,
    left: NodeId,
    right: NodeId,
    start: str = "",
    end: str | None = None,
    *,
    eager: bool = True,
) -> Iterator[Change]:
    """Changes from ``left`` to ``right`` with ``start <= path < end``, in path order.

    ``eager`` first loads every node that differs, a level per round trip (up to a
    bound); a caller that wants only the first change passes False.
    """
    if left == right:
        return
    if eager:
        _prefetch_differences(reader, left, right, start, end)
    a = _Stream(reader, left, start, end)
    b = _Stream(reader, right, start, end)
    while True:
        x, y = a.head(), b.head()
        if x is None and y is None:
            return
        if isinstance(x, ChildRef) and isinstance(y, ChildRef) and x.node == y.node and x.key == y.key:
            a.stack.pop()  # the same subtree at the same place: nothing differs inside
            b.stack.pop()
            continue
        if x is not None and (y is None or x[0] < y[0]):
            if isinstance(x, Entry):
                yield Change(x.path, ChangeKind.REMOVED, x, None)
                a.stack.pop()
            else:
                a.expand()
        elif y is not None and (x is None or y[0] < x[0]):
            if isinstance(y, Entry):
                yield Change(y.path, ChangeKind.ADDED, None, y)
                b.stack.pop()
            else:
                b.expand()
        elif isinstance(x, Entry) and isinstance(y, Entry):
            if x != y:
                yield Change(x.path, ChangeKind.MODIFIED, x, y)
            a.stack.pop()
            b.stack.pop()
        elif (leaves := _leaves_of_one_range(a, x, b, y)) is not None:
            yield from _diff_leaves(*leaves, start, end)
        else:
            _expand_taller(a, x, b, y)


def _prefetch_differences(
    reader: NodeReader, left: NodeId, right: NodeId, start: str, end: str | None
) -> None:
    """Load the nodes found on one side only, level by level, within the range.

    A subtree both sides share is never opened. Stops once a level would hold more
    than ``EAGER_NODES``; the walk then reads the rest as it goes.
    """
    only_left, only_right = {left}, {right}
    while only_left or only_right:
        wanted = only_left | only_right
        if len(wanted) > min(EAGER_NODES, reader.cache.capacity // 2):
            return
        nodes = reader.get_many(wanted)
        below_left = {ref.node for n in only_left for ref in _children_in_range(nodes[n], start, end)}
        below_right = {ref.node for n in only_right for ref in _children_in_range(nodes[n], start, end)}
        only_left, only_right = below_left - below_right, below_right - below_left


def _children_in_range(node: Node, start: str, end: str | None) -> list[ChildRef]:
    """The children of an internal node whose key ranges meet ``[start, end)``."""
    if node.level == 0:
        return []
    refs = cast(tuple[ChildRef, ...], node.items)
    first = _child_index(node, start) if start else 0
    return [ref for ref in refs[first:] if end is None or ref.key < end]


def _leaves_of_one_range(
    a: _Stream, x: Item | None, b: _Stream, y: Item | None
) -> tuple[Sequence[Entry], Sequence[Entry]] | None:
    """When both heads are leaves that start and end at the same keys, take both off
    their streams and return their items (a modified file's leaf, the common case)."""
    if not (isinstance(x, ChildRef) and isinstance(y, ChildRef)):
        return None
    nodes = a.reader.get_many([x.node, y.node])
    left, right = nodes[x.node], nodes[y.node]
    if left.level or right.level:
        return None
    next_a = a.stack[-2][0] if len(a.stack) > 1 else None
    next_b = b.stack[-2][0] if len(b.stack) > 1 else None
    if next_a != next_b:
        return None
    a.stack.pop()
    b.stack.pop()
    return cast(Sequence[Entry], left.items), cast(Sequence[Entry], right.items)


def _diff_leaves(
    left: Sequence[Entry], right: Sequence[Entry], start: str, end: str | None
) -> Iterator[Change]:
    """Changes between two leaves' entries within ``[start, end)``, in path order."""
    left, right = _within(left, start, end), _within(right, start, end)
    if len(left) == len(right) and all(o.path == n.path for o, n in zip(left, right, strict=True)):
        for was, now in zip(left, right, strict=True):  # same paths: only modifications
            if was != now:
                yield Change(was.path, ChangeKind.MODIFIED, was, now)
        return
    i = j = 0
    while i < len(left) and j < len(right):
        old, new = left[i], right[j]
        if old.path < new.path:
            yield Change(old.path, ChangeKind.REMOVED, old, None)
            i += 1
        elif new.path < old.path:
            yield Change(new.path, ChangeKind.ADDED, None, new)
            j += 1
        else:
            if old != new:
                yield Change(old.path, ChangeKind.MODIFIED, old, new)
            i += 1
            j += 1
    yield from (Change(old.path, ChangeKind.REMOVED, old, None) for old in left[i:])
    yield from (Change(new.path, ChangeKind.ADDED, None, new) for new in right[j:])


def _within(items: Sequence[Entry], start: str, end: str | None) -> Sequence[Entry]:
    lo = bisect_left(items, start, key=_key) if start else 0
    hi = bisect_left(items, end, key=_key) if end is not None else len(items)
    return items[lo:hi]


def _expand_taller(a: _Stream, x: Item | None, b: _Stream, y: Item | None) -> None:
    """Both heads start at the same key and one is a node: open the taller one(s).

    When both open, the children that differ between the two sides are what the walk
    reads next, so they are fetched together in one round trip.
    """
    if isinstance(x, ChildRef) and isinstance(y, ChildRef):
        a.reader.get_many([x.node, y.node])
    level_x = a.level(x) if isinstance(x, ChildRef) else -1
    level_y = b.level(y) if isinstance(y, ChildRef) else -1
    opened_a = a.expand() if level_x >= level_y else []
    opened_b = b.expand() if level_y >= level_x else []
    if opened_a and opened_b and min(level_x, level_y) > 0:
        left = {c.node for c in opened_a if isinstance(c, ChildRef)}
        right = {c.node for c in opened_b if isinstance(c, ChildRef)}
        a.reader.prefetch(left ^ right)
