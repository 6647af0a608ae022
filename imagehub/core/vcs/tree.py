"""The manifest as a content-defined, content-addressed B-tree (a "prolly tree").

Entries are sorted by path. A node ends after an item whose key hashes to a boundary
(about one in ``TARGET``) or when it reaches ``MAX_ITEMS``, so node boundaries depend
only on the keys around them: the tree for a given set of entries is always the same
(equal manifests have equal root ids, whatever edits produced them), and an edit of k
paths rewrites about k·log n nodes. Diffs skip every subtree whose id both sides share.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from imagehub.core.hashing import content_id
from imagehub.core.vcs.nodes import EMPTY_TREE_ID, ChildRef, Item, Node, NodeReader, decode_node
from imagehub.core.vcs.types import Change, Entry, NodeId

TARGET = 64
MAX_ITEMS = 512
_BOUNDARY_BITS = 6  # 2**6 == TARGET
RECORDED_CHANGES = 10_000  # the most changes of one edit kept as a delta

Edit = tuple[str, Item | None]  # key -> new item, or None to delete
_item_key = itemgetter(0)


def boundary_test(level: int) -> Callable[[str], bool]:
    """Whether a node of ``level`` ends after the item keyed by the argument.

    The level's constant is bound once: the test runs for every item a commit rewrites.
    """
    mix = level * 0x9E3779B9
    below = 1 << (32 - _BOUNDARY_BITS)

    def test(key: str) -> bool:
        return ((zlib.crc32(key.encode()) ^ mix) * 0x85EBCA6B) & 0xFFFFFFFF < below

    return test


@dataclass
class NodeWriter:
    """Collects the nodes an edit creates, and the changes it made from one tree to the
    next (see ``deltas``); the caller persists both in its transaction."""

    created: dict[NodeId, bytes] = field(default_factory=dict)
    deltas: dict[tuple[NodeId, NodeId], list[Change]] = field(default_factory=dict)

    def write(self, node: Node) -> ChildRef:
        payload = node.encode()
        node_id = NodeId(content_id(payload))
        self.created[node_id] = payload
        return ChildRef(node.items[0][0], node_id, node.entries)


class _Chunker:
    """Cuts a level's item stream into nodes at content-defined boundaries."""

    def __init__(self, level: int, writer: NodeWriter, emit: Callable[[ChildRef], None]) -> None:
        self.level = level
        self.writer = writer
        self.emit = emit
        self.buffer: list[Item] = []
        self._ends_node = boundary_test(level)

    def extend(self, items: Iterable[Item]) -> None:
        ends_node = self._ends_node
        buffer = self.buffer
        for item in items:
            buffer.append(item)
            if ends_node(item[0]) or len(buffer) >= MAX_ITEMS:
                self.cut()
                buffer = self.buffer

    def cut(self) -> None:
        if self.buffer:
            self.emit(self.writer.write(Node(self.level, tuple(self.buffer))))
            self.buffer = []


class _LevelCursor:
    """Walks the nodes of one level of an existing tree in key order."""

    def __init__(self, reader: NodeReader, root: Node, level: int, *, prefetch: bool = True) -> None:
        self.reader = reader
        self.root = root
        self.level = level
        self.prefetch = prefetch
        self.stack: list[tuple[Node, int]] = []  # internal nodes above `level` and the child index
        self.current: Node = root
        self._prefetched: set[tuple[int, str]] = set()  # (level, first key) of internal nodes

    def seek(self, keys: Sequence[str], start: int) -> Node:
        """The node at this level whose range holds ``keys[start]`` (the first node if none does).

        The keys after it (sorted, still to be edited) let each internal node on the way
        down load all the children they reach in one round trip, instead of one per child
        as the walk gets to them.
        """
        key = keys[start]
        self.stack = []
        node = self.root
        bound: str | None = None  # where the range of `node` ends
        while node.level > self.level:
            index = _child_index(node, key)
            self.stack.append((node, index))
            seen = (node.level, node.items[0][0])
            if self.prefetch and seen not in self._prefetched:
                self._prefetched.add(seen)
                stop = len(keys) if bound is None else bisect_left(keys, bound, start)
                self.reader.prefetch(child for child, _, _ in _children_with_keys(node, keys, start, stop))
            if index + 1 < len(node.items):
                bound = node.items[index + 1][0]
            node = self.reader.get(node.items[index].node)  # type: ignore[union-attr]
        self.current = node
        return node

    def next_first_key(self) -> str | None:
        """First key of the node after the current one, without moving."""
        for node, index in reversed(self.stack):
            if index + 1 < len(node.items):
                return node.items[index + 1][0]
        return None

    def advance(self) -> Node | None:
        while self.stack:
            node, index = self.stack.pop()
            if index + 1 < len(node.items):
                self.stack.append((node, index + 1))
                child = self.reader.get(node.items[index + 1].node)  # type: ignore[union-attr]
                while child.level > self.level:
                    self.stack.append((child, 0))
                    child = self.reader.get(child.items[0].node)  # type: ignore[union-attr]
                self.current = child
                return child
        return None


def _children_with_keys(node: Node, keys: Sequence[str], lo: int, hi: int) -> list[tuple[NodeId, int, int]]:
    """The children of an internal node that hold some of ``keys[lo:hi]`` (sorted, all
    within the node's range), each with the bounds of its share of them.

    Two binary searches per child reached: a small edit of a wide node costs nothing
    for the children it misses.
    """
    groups: list[tuple[NodeId, int, int]] = []
    items = node.items
    while lo < hi:
        index = _child_index(node, keys[lo])
        end = hi if index + 1 == len(items) else bisect_left(keys, items[index + 1][0], lo, hi)
        groups.append((items[index].node, lo, end))  # type: ignore[union-attr]
        lo = end
    return groups


def _child_index(node: Node, key: str) -> int:
    """Index of the last child whose first key is <= ``key`` (0 if none)."""
    lo, hi = 0, len(node.items)
    while lo < hi:
        mid = (lo + hi) // 2
        if node.items[mid][0] <= key:
            lo = mid + 1
        else:
            hi = mid
    return max(lo - 1, 0)


def _merge(
    items: Sequence[Item], edits: Sequence[Edit], changed: list[Change] | None = None
) -> tuple[list[Item], bool]:
    """Apply sorted key edits to sorted items; also say whether the keys stayed the same
    (every edit replaced an item in place). Leaf entries that really change are
    appended to ``changed`` when given."""
    merged: list[Item] = []
    same_keys = True
    i = 0
    for key, new in edits:
        j = bisect_left(items, key, i, key=_item_key)
        merged += items[i:j]
        found = j < len(items) and items[j][0] == key
        old = items[j] if found else None
        if found:
            j += 1  # replaced or deleted
        if new is not None:
            merged.append(new)
        if changed is not None and old != new:
            changed.append(Change.between(old, new))  # type: ignore[arg-type]
        same_keys = same_keys and found and new is not None
        i = j
    merged += items[i:]
    return merged, same_keys


class Tree:
    """Reads and edits manifests stored as prolly trees."""

    def __init__(self, reader: NodeReader) -> None:
        self.reader = reader

    # -- reading ---------------------------------------------------------------------------
    def get(self, root: NodeId, path: str) -> Entry | None:
        node = self.reader.get(root)
        while node.level > 0:
            node = self.reader.get(node.items[_child_index(node, path)].node)  # type: ignore[union-attr]
        index = _child_index(node, path)
        if node.items and node.items[index][0] == path:
            return node.items[index]  # type: ignore[return-value]
        return None

    def count(self, root: NodeId) -> int:
        return self.reader.get(root).entries

    def iterate(self, root: NodeId, start: str = "", end: str | None = None) -> Iterator[Entry]:
        """Entries with ``start <= path < end``, streamed in path order."""
        stack: list[Item] = [ChildRef("", root, 0)]
        while stack:
            item = stack.pop()
            if isinstance(item, Entry):
                if end is not None and item.path >= end:
                    return
                if item.path >= start:
                    yield item
                continue
            node = self.reader.get(item.node)
            # Children before the one holding `start` end before it (child i ends where i+1 begins).
            first = _child_index(node, start) if start and node.level > 0 else 0
            for child in reversed(node.items[first:]):
                if end is None or child[0] < end:
                    stack.append(child)

    # -- writing ---------------------------------------------------------------------------
    def apply(self, root: NodeId, edits: Sequence[Edit], writer: NodeWriter) -> NodeId:
        """The root of ``root`` with ``edits`` (sorted, unique keys) applied.

        The entries that changed are recorded in ``writer.deltas`` under (old root, new
        root), unless either tree is empty or there are more than ``RECORDED_CHANGES``.
        """
        if not edits:
            return root
        old_root = self.reader.get(root)
        loaded = self._prefetch_paths(old_root, [key for key, _ in edits])
        changed: list[Change] | None = [] if root != EMPTY_TREE_ID else None
        level = 0
        level_edits: list[Edit] = list(edits)
        while True:
            if level > old_root.level or not old_root.items:
                refs = self._build_level(level, [item for _, item in level_edits if item is not None], writer)
            elif level == old_root.level:
                merged = _merge(old_root.items, level_edits, changed if level == 0 else None)[0]
                refs = self._build_level(level, merged, writer)
            else:
                level_edits = self._apply_level(
                    old_root, level, level_edits, writer, changed if level == 0 else None, prefetch=not loaded
                )
                level += 1
                continue
            if len(refs) <= 1:
                new_root = self._collapse(refs[0].node if refs else EMPTY_TREE_ID, writer)
                if (
                    changed is not None
                    and len(changed) <= RECORDED_CHANGES
                    and new_root not in (root, EMPTY_TREE_ID)
                ):
                    writer.deltas[(root, new_root)] = changed
                return new_root
            level_edits = [(ref.key, ref) for ref in refs]
            level += 1

    def _prefetch_paths(self, root: Node, keys: Sequence[str]) -> bool:
        """Load every node between the root and the edited keys, one round trip per level;
        False when a level holds more than the cache keeps (the walk then loads as it goes)."""
        frontier: list[tuple[Node, int, int]] = [(root, 0, len(keys))]
        while frontier and frontier[0][0].level > 0:
            wanted = [group for node, lo, hi in frontier for group in _children_with_keys(node, keys, lo, hi)]
            if len(wanted) > self.reader.cache.capacity // 2:
                return False
            nodes = self.reader.get_many(node_id for node_id, _, _ in wanted)
            frontier = [(nodes[node_id], lo, hi) for node_id, lo, hi in wanted]
        return True

    def _collapse(self, node_id: NodeId, writer: NodeWriter) -> NodeId:
        """A root with one child is replaced by that child, keeping the tree canonical."""
        while node_id != EMPTY_TREE_ID:
            fresh = writer.created.get(node_id)
            node = decode_node(fresh) if fresh is not None else self.reader.get(node_id)
            if node.level == 0 or len(node.items) > 1:
                break
            writer.created.pop(node_id, None)  # a one-child root is never stored
            node_id = node.items[0].node  # type: ignore[union-attr]
        return node_id

    @staticmethod
    def _build_level(level: int, items: Sequence[Item], writer: NodeWriter) -> list[ChildRef]:
        refs: list[ChildRef] = []
        chunker = _Chunker(level, writer, refs.append)
        chunker.extend(items)
        chunker.cut()
        return refs

    def _apply_level(
        self,
        root: Node,
        level: int,
        edits: Sequence[Edit],
        writer: NodeWriter,
        changed: list[Change] | None = None,
        *,
        prefetch: bool = True,
    ) -> list[Edit]:
        """Rewrite only the nodes of ``level`` that edits reach; return the parent level's edits.

        Re-chunking starts at the first touched node (every node starts right after a
        cut) and stops once a cut falls exactly on an old node's end with no edit
        pending in the next node: from there on the old nodes are reproduced as they were.
        A node whose edits all replace items in place, reached right after a cut, keeps
        its keys and so its cut: it is rewritten whole, without testing each key again.
        """
        out: dict[str, Item | None] = {}

        def emit(ref: ChildRef) -> None:
            out[ref.key] = ref

        cursor = _LevelCursor(self.reader, root, level, prefetch=prefetch)
        i = 0
        keys = [key for key, _ in edits]
        while i < len(edits):
            node: Node | None = cursor.seek(keys, i)
            chunker = _Chunker(level, writer, emit)
            while node is not None:
                out[node.items[0][0]] = None  # the old node goes; chunks emitted below replace it
                next_key = cursor.next_first_key()
                j = len(edits) if next_key is None else bisect_left(keys, next_key, i)
                if changed is not None and len(changed) > RECORDED_CHANGES:
                    changed = None  # too many to keep: stop paying for them
                merged, same_keys = _merge(node.items, edits[i:j], changed)
                if same_keys and not chunker.buffer:
                    emit(writer.write(Node(level, tuple(merged))))
                else:
                    chunker.extend(merged)
                i = j
                if next_key is None:
                    chunker.cut()
                    break
                if not chunker.buffer:
                    break  # cut on an old boundary: the rest of the level is unchanged
                node = cursor.advance()
        return sorted(out.items(), key=lambda kv: kv[0])
