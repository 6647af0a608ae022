"""Tree nodes: canonical encoding, the store protocol and a process-wide decode cache.

A leaf holds manifest entries; an internal node holds references to children, each
with the first key below it and the number of entries it covers. Nodes are
immutable, so a decoded node can be cached forever by its id.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from imagehub.core.errors import ImageHubError
from imagehub.core.hashing import canonical_json, content_id
from imagehub.core.vcs.types import Entry, NodeId


class CorruptObject(ImageHubError):
    """A stored object is missing or does not hash to its id."""


class ChildRef(NamedTuple):
    key: str  # first key in the child's subtree
    node: NodeId
    entries: int  # entries in the child's subtree


Item = Entry | ChildRef


@dataclass(frozen=True, slots=True)
class Node:
    level: int  # 0 for leaves
    items: tuple[Item, ...]

    @property
    def entries(self) -> int:
        if self.level == 0:
            return len(self.items)
        return sum(item.entries for item in self.items if isinstance(item, ChildRef))

    def encode(self) -> bytes:
        return canonical_json([self.level, self.items])  # named tuples encode as arrays


def decode_node(payload: bytes) -> Node:
    level, rows = json.loads(payload)
    if level == 0:
        return Node(0, tuple(map(Entry._make, rows)))
    return Node(level, tuple(map(ChildRef._make, rows)))


EMPTY_TREE = Node(0, ())
EMPTY_TREE_ID = NodeId(content_id(EMPTY_TREE.encode()))


class NodeStore(Protocol):
    """Where encoded nodes persist (the database, in ImageHub)."""

    def get_many(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        """The payloads of those ids that exist."""

    def put_many(self, nodes: Mapping[NodeId, bytes]) -> None:
        """Insert new nodes and mark existing ones as freshly referenced."""


class NodeCache:
    """Bounded LRU of decoded nodes, shared by every reader in the process."""

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self._nodes: OrderedDict[NodeId, Node] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, node_id: NodeId) -> Node | None:
        with self._lock:
            node = self._nodes.get(node_id)
            if node is not None:
                self._nodes.move_to_end(node_id)
            return node

    def put(self, node_id: NodeId, node: Node) -> None:
        with self._lock:
            self._nodes[node_id] = node
            self._nodes.move_to_end(node_id)
            while len(self._nodes) > self.capacity:
                self._nodes.popitem(last=False)


SHARED_CACHE = NodeCache()


class NodeReader:
    """Fetch-and-decode with the shared cache in front of a NodeStore."""

    def __init__(self, store: NodeStore, cache: NodeCache = SHARED_CACHE, verify: bool = True) -> None:
        self.store = store
        self.cache = cache
        self.verify = verify

    def get(self, node_id: NodeId) -> Node:
        return self.get_many([node_id])[node_id]

    def get_many(self, ids: Iterable[NodeId]) -> dict[NodeId, Node]:
        """Several nodes with one store round trip for those not cached."""
        found: dict[NodeId, Node] = {}
        missing: list[NodeId] = []
        for node_id in ids:
            if node_id == EMPTY_TREE_ID:
                found[node_id] = EMPTY_TREE
            elif (node := self.cache.get(node_id)) is not None:
                found[node_id] = node
            else:
                missing.append(node_id)
        if missing:
            payloads = self.store.get_many(missing)
            for node_id in missing:
                payload = payloads.get(node_id)
                if payload is None:
                    raise CorruptObject(f"tree node {node_id} is missing")
                if self.verify and content_id(payload) != node_id:
                    raise CorruptObject(f"tree node {node_id} does not hash to its id")
                found[node_id] = decode_node(payload)
                self.cache.put(node_id, found[node_id])
        return found

    def prefetch(self, ids: Iterable[NodeId]) -> None:
        """Warm the cache for nodes about to be read, unless they would not fit."""
        wanted = list(ids)
        if len(wanted) <= self.cache.capacity // 2:
            self.get_many(wanted)
