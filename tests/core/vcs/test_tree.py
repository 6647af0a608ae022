"""The prolly-tree manifest against a plain dict: contents, canonical shape, diff, ranges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imagehub.core.vcs.changes import prefix_range
from imagehub.core.vcs.diff import diff_trees
from imagehub.core.vcs.nodes import EMPTY_TREE_ID, NodeCache, NodeReader
from imagehub.core.vcs.tree import MAX_ITEMS, NodeWriter, Tree
from imagehub.core.vcs.types import Entry, NodeId
from tests.support.memory_stores import MemoryNodes

paths = st.builds(
    lambda a, b, c: f"s{a}/series{b}/{c:04d}.dcm",
    st.integers(0, 9),
    st.integers(0, 9),
    st.integers(0, 300),
)
entries = st.builds(lambda p, v: Entry(p, f"{v:064x}", v), paths, st.integers(0, 2**64))
edit_batches = st.lists(
    st.dictionaries(paths, st.one_of(st.none(), st.integers(1, 2**64)), min_size=1, max_size=400),
    min_size=1,
    max_size=6,
)


class Manifests:
    def __init__(self) -> None:
        self.nodes = MemoryNodes()
        self.tree = Tree(NodeReader(self.nodes, NodeCache()))

    def apply(self, root: NodeId, edits: dict[str, Entry | None]) -> NodeId:
        writer = NodeWriter()
        new_root = self.tree.apply(root, sorted(edits.items()), writer)
        self.nodes.put_many(writer.created)
        return new_root

    def build(self, content: dict[str, Entry]) -> NodeId:
        return self.apply(EMPTY_TREE_ID, dict(content))


def as_edits(batch: dict[str, int | None]) -> dict[str, Entry | None]:
    return {p: (Entry(p, f"{v:064x}", v) if v is not None else None) for p, v in batch.items()}


@settings(max_examples=60, deadline=None)
@given(edit_batches)
def test_edits_match_a_dict_and_the_shape_is_canonical(batches: list[dict[str, int | None]]) -> None:
    m = Manifests()
    model: dict[str, Entry] = {}
    root = EMPTY_TREE_ID
    for batch in batches:
        edits = as_edits(batch)
        root = m.apply(root, edits)
        for path, entry in edits.items():
            if entry is None:
                model.pop(path, None)
            else:
                model[path] = entry
        assert list(m.tree.iterate(root)) == [model[p] for p in sorted(model)]
        assert m.tree.count(root) == len(model)
        # History independence: the same content built in one go has the same root id.
        assert m.build(model) == root
    for path in list(model)[:20]:
        assert m.tree.get(root, path) == model[path]
    assert m.tree.get(root, "s99/absent") is None


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(paths, entries, max_size=1500),
    edit_batches.map(lambda b: b[0]),
    st.sampled_from(["", "s1", "s3/", "s5/series2/", "s9/series9/0300.dcm"]),
)
def test_diff_and_prefix_listing_agree_with_the_model(
    base: dict[str, Entry], batch: dict[str, int | None], prefix: str
) -> None:
    base = {p: e._replace(path=p) for p, e in base.items()}
    m = Manifests()
    left = m.build(base)
    right = m.apply(left, as_edits(batch))
    other = dict(base)
    for path, entry in as_edits(batch).items():
        if entry is None:
            other.pop(path, None)
        else:
            other[path] = entry
    start, end = prefix_range(prefix)
    in_range = sorted(p for p in set(base) | set(other) if p.startswith(prefix))
    expected = [(p, base.get(p), other.get(p)) for p in in_range if base.get(p) != other.get(p)]
    got = [(c.path, c.left, c.right) for c in diff_trees(m.tree.reader, left, right, start, end)]
    assert got == expected
    assert [e.path for e in m.tree.iterate(right, start, end)] == sorted(
        p for p in other if p.startswith(prefix)
    )


def test_a_small_edit_rewrites_few_nodes_and_diff_reads_few() -> None:
    m = Manifests()
    content = {f"p/{i:07d}": Entry(f"p/{i:07d}", f"{i:064x}", i) for i in range(50_000)}
    root = m.build(content)
    assert m.tree.reader.get(root).level >= 2
    writer = NodeWriter()
    changed = {f"p/{i:07d}": Entry(f"p/{i:07d}", f"{i + 1:064x}", i) for i in range(0, 50_000, 5_000)}
    new_root = m.tree.apply(root, sorted(changed.items()), writer)
    m.nodes.put_many(writer.created)
    depth = m.tree.reader.get(root).level + 1
    assert len(writer.created) <= len(changed) * depth + 2

    reads = 0
    inner = m.nodes

    class Counting:
        def get_many(self, ids: list[NodeId]) -> dict[NodeId, bytes]:
            nonlocal reads
            reads += 1
            return inner.get_many(ids)

        def put_many(self, nodes: dict[NodeId, bytes]) -> None:
            inner.put_many(nodes)

    cold = NodeReader(Counting(), NodeCache())
    assert len(list(diff_trees(cold, root, new_root))) == len(changed)
    assert reads <= depth  # every node that differs, a level per round trip

    reads = 0
    lazy = NodeReader(Counting(), NodeCache())
    assert len(list(diff_trees(lazy, root, new_root, eager=False))) == len(changed)
    assert reads <= 2 * len(changed) * depth + 4  # a full walk would read ~800 nodes


def test_long_runs_without_boundaries_are_split_at_max_items() -> None:
    m = Manifests()
    # Keys chosen so none is a boundary: every node must then be cut by size.
    from imagehub.core.vcs.tree import boundary_test

    ends_leaf = boundary_test(0)

    keys = [k for k in (f"k{i:06d}" for i in range(20_000)) if not ends_leaf(k)][: MAX_ITEMS * 3]
    root = m.build({k: Entry(k, f"{1:064x}", 1) for k in keys})
    top = m.tree.reader.get(root)
    assert top.level >= 1
    leaves = [m.tree.reader.get(ref.node) for ref in top.items]  # type: ignore[union-attr]
    assert all(len(leaf.items) <= MAX_ITEMS for leaf in leaves)
    assert [e.path for e in m.tree.iterate(root)] == keys


class CountingNodes:
    """A node store that counts round trips and nodes fetched."""

    def __init__(self, inner: MemoryNodes) -> None:
        self.inner = inner
        self.trips = 0
        self.fetched = 0

    def get_many(self, ids: list[NodeId]) -> dict[NodeId, bytes]:
        ids = list(ids)
        self.trips += 1
        self.fetched += len(ids)
        return self.inner.get_many(ids)

    def put_many(self, nodes: dict[NodeId, bytes]) -> None:
        self.inner.put_many(nodes)


def test_edits_read_their_nodes_a_level_or_a_parent_at_a_time() -> None:
    m = Manifests()
    content = {f"p/{i:07d}": Entry(f"p/{i:07d}", f"{i:064x}", i) for i in range(50_000)}
    root = m.build(content)
    depth = m.tree.reader.get(root).level + 1
    total = len(m.nodes.nodes)
    internal = sum(1 for node in m.nodes.nodes.values() if not node.startswith(b"[0,"))

    def cold_apply(edits: dict[str, Entry], capacity: int) -> CountingNodes:
        counting = CountingNodes(m.nodes)
        tree = Tree(NodeReader(counting, NodeCache(capacity)))
        writer = NodeWriter()
        assert tree.apply(root, sorted(edits.items()), writer) == m.build(content | edits)
        return counting

    scattered = {p: e._replace(size=-1) for p, e in list(content.items())[::5_000]}
    small = cold_apply(scattered, capacity=8192)
    assert small.trips <= depth  # one round trip per level, the edited paths only
    assert small.fetched <= len(scattered) * depth

    # Too big to prefetch whole: each parent still loads the children it needs at once.
    dense = {p: e._replace(size=-1) for p, e in list(content.items())[::2]}
    big = cold_apply(dense, capacity=256)
    assert big.trips <= 2 * internal
    assert big.fetched <= total + 2 * internal


def test_a_prefix_ending_in_the_last_code_point_still_has_a_range() -> None:
    top = chr(0x10FFFF)
    paths = ["a", f"a{top}", f"a{top}{top}/x", f"a{top}b", "b", f"b{top}"]
    for prefix in (f"a{top}", f"a{top}{top}", top, f"{top}{top}"):
        start, end = prefix_range(prefix)
        assert [p for p in paths if start <= p and (end is None or p < end)] == [
            p for p in paths if p.startswith(prefix)
        ]
