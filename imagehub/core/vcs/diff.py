"""Diff of two manifests that never descends into a subtree both sides share.

Both trees are walked as streams in path order; a stream expands a node only when
the other side does not present the very same node at the same position, so the
cost follows the size of the change, not of the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator

from imagehub.core.vcs.nodes import ChildRef, Item, NodeReader
from imagehub.core.vcs.tree import _child_index
from imagehub.core.vcs.types import Change, ChangeKind, Entry, NodeId


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
    reader: NodeReader, left: NodeId, right: NodeId, start: str = "", end: str | None = None
) -> Iterator[Change]:
    """Changes from ``left`` to ``right`` with ``start <= path < end``, in path order."""
    if left == right:
        return
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
        else:
            _expand_taller(a, x, b, y)


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
    if opened_a and opened_b and min(level_x, level_y) > 1:
        left = {c.node for c in opened_a if isinstance(c, ChildRef)}
        right = {c.node for c in opened_b if isinstance(c, ChildRef)}
        a.reader.prefetch(left ^ right)
