"""Recorded deltas: what an edit records is exactly the diff of its two trees, and a
diff, a merge or a log filter answered from one reads no tree node."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagehub.core.errors import InvalidInput
from imagehub.core.storage.local import FileStore
from imagehub.core.vcs import BlobStore, ChangeSet, Entry, Repository
from imagehub.core.vcs import tree as tree_module
from imagehub.core.vcs.deltas import Differ, decode_delta, encode_delta
from imagehub.core.vcs.diff import diff_trees
from imagehub.core.vcs.maintenance import fsck
from imagehub.core.vcs.nodes import EMPTY_TREE_ID, NodeCache, NodeReader
from imagehub.core.vcs.tree import NodeWriter, Tree
from imagehub.core.vcs.types import BlobId, NodeId
from tests.support.memory_stores import MemoryBlobIndex, MemoryDeltas, MemoryNodes, memory_stores

paths = st.builds(lambda a, b: f"s{a}/{b:04d}.dcm", st.integers(0, 5), st.integers(0, 400))
contents = st.dictionaries(paths, st.integers(1, 2**32), min_size=1, max_size=600)
edit_sets = st.dictionaries(paths, st.one_of(st.none(), st.integers(1, 2**32)), min_size=1, max_size=300)


def entry(path: str, version: int) -> Entry:
    return Entry(path, f"{version:064x}", version)


class CountingNodes(MemoryNodes):
    """Node storage that counts the reads reaching it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_many(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        self.reads += 1
        return super().get_many(ids)


class Trees:
    def __init__(self) -> None:
        self.nodes = CountingNodes()
        self.deltas = MemoryDeltas()
        self.reader = NodeReader(self.nodes, NodeCache())
        self.tree = Tree(self.reader)

    def apply(self, root: NodeId, edits: Mapping[str, int | None]) -> NodeId:
        writer = NodeWriter()
        changes = {p: entry(p, v) if v is not None else None for p, v in edits.items()}
        new_root = self.tree.apply(root, sorted(changes.items()), writer)
        self.nodes.put_many(writer.created)
        self.deltas.put_many({key: encode_delta(c) for key, c in writer.deltas.items()})
        return new_root

    def differ(self) -> Differ:
        """A differ with a cold cache, so any node it needs is a counted read."""
        self.nodes.reads = 0
        return Differ(NodeReader(self.nodes, NodeCache()), self.deltas)


@settings(max_examples=60, deadline=None)
@given(contents, edit_sets)
def test_an_edit_records_exactly_the_diff_of_its_trees(
    content: dict[str, int], edits: dict[str, int | None]
) -> None:
    trees = Trees()
    base = trees.apply(EMPTY_TREE_ID, content)
    assert not trees.deltas.deltas  # nothing is recorded from the empty tree
    edited = trees.apply(base, edits)
    walked = list(diff_trees(trees.reader, base, edited))
    if edited in (base, EMPTY_TREE_ID):
        assert not trees.deltas.deltas
        return
    recorded = decode_delta(trees.deltas.deltas[(base, edited)])
    assert recorded == walked
    differ = trees.differ()
    assert list(differ.diff(base, edited)) == walked
    assert list(differ.diff(edited, base)) == list(diff_trees(trees.reader, edited, base))  # read backwards
    assert list(differ.diff(base, edited, "s2/", "s4/")) == list(
        diff_trees(trees.reader, base, edited, "s2/", "s4/")
    )
    assert trees.nodes.reads == 0


def test_edits_that_change_nothing_are_not_recorded() -> None:
    trees = Trees()
    base = trees.apply(EMPTY_TREE_ID, {f"a/{i:05d}": i + 1 for i in range(500)})
    edited = trees.apply(base, {"a/00003": 4, "a/99999": None, "a/00004": 77})  # same, absent, real
    recorded = decode_delta(trees.deltas.deltas[(base, edited)])
    assert recorded is not None
    assert [(c.path, c.kind.value) for c in recorded] == [("a/00004", "modified")]


def test_a_diff_without_a_delta_walks_the_trees() -> None:
    trees = Trees()
    base = trees.apply(EMPTY_TREE_ID, {f"a/{i:05d}": i + 1 for i in range(3000)})
    one = trees.apply(base, {"a/00010": 7})
    two = trees.apply(one, {"a/02000": None})
    differ = trees.differ()
    assert differ.recorded(base, two) is None  # two edits away: no single delta covers it
    assert [(c.path, c.kind.value) for c in differ.diff(base, two)] == [
        ("a/00010", "modified"),
        ("a/02000", "removed"),
    ]
    assert trees.nodes.reads > 0


def test_an_edit_too_large_to_keep_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree_module, "RECORDED_CHANGES", 50)
    trees = Trees()
    base = trees.apply(EMPTY_TREE_ID, {f"a/{i:05d}": i + 1 for i in range(3000)})
    small = trees.apply(base, {f"a/{i:05d}": 1 for i in range(0, 3000, 100)})
    large = trees.apply(small, {f"a/{i:05d}": 2 for i in range(0, 3000, 10)})
    assert (base, small) in trees.deltas.deltas
    assert (small, large) not in trees.deltas.deltas
    assert len(list(trees.differ().diff(small, large))) == 300


def test_a_damaged_delta_is_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    trees = Trees()
    base = trees.apply(EMPTY_TREE_ID, {f"a/{i:05d}": i + 1 for i in range(500)})
    edited = trees.apply(base, {"a/00001": 9, "b/new": 1})
    payload = trees.deltas.deltas[(base, edited)]
    trees.deltas.deltas[(base, edited)] = payload[:-1] + bytes([payload[-1] ^ 1])
    with caplog.at_level(logging.WARNING):
        changes = list(trees.differ().diff(base, edited))
    assert [(c.path, c.kind.value) for c in changes] == [("a/00001", "modified"), ("b/new", "added")]
    assert "fails its checksum" in caplog.text


def test_commit_diff_merge_and_log_of_recent_work_read_no_tree_node() -> None:
    stores = memory_stores()
    nodes = CountingNodes()
    stores = stores.__class__(stores.refs, stores.commits, nodes, stores.blobs, stores.deltas)
    assert isinstance(stores.blobs, MemoryBlobIndex)
    blobs = [BlobId(f"{i:064x}") for i in range(1, 2001)]
    stores.blobs.register((b, 1) for b in blobs)
    repo = Repository(stores)
    repo.init("main", author="t")
    seed = ChangeSet()
    for i, blob in enumerate(blobs[:1500]):
        seed.put(Entry(f"scan/{i:05d}.dcm", blob, 1))
    repo.commit("main", seed, author="t", message="seed")
    repo.create_branch("topic", "main")
    repo.commit("topic", ChangeSet().put(Entry("scan/00007.dcm", blobs[1600], 1)), author="t", message="fix")
    repo.commit("main", ChangeSet().delete("scan/01000.dcm"), author="t", message="drop")

    repo.reader.cache = NodeCache()
    nodes.reads = 0
    assert [(c.path, c.kind.value) for c in repo.diff("main~1", "main")] == [("scan/01000.dcm", "removed")]
    assert [c.id for c in repo.log("topic", path="scan/00007.dcm", limit=1)] == [repo.resolve("topic").id]
    assert nodes.reads == 0

    merged = repo.merge("topic", "main", author="t")
    assert repo.stat("main", "scan/00007.dcm").blob == blobs[1600]
    assert repo.list_objects("main", prefix="scan/0100") == [
        Entry(f"scan/0100{i}.dcm", blobs[1000 + i], 1) for i in range(1, 10)
    ]
    nodes.reads = 0
    repo.reader.cache = NodeCache()
    assert [(c.path, c.kind.value) for c in repo.diff("main~1", merged.id)] == [
        ("scan/00007.dcm", "modified")
    ]
    assert nodes.reads == 0


def test_a_dry_run_merge_names_the_conflicts_from_the_deltas_and_writes_nothing() -> None:
    repo, nodes = counted_repo(f"d/{i:03d}" for i in range(300))
    repo.create_branch("topic", "main")
    repo.commit("topic", ChangeSet().put(entry("d/007", 2)).put(entry("d/100", 2)), author="t", message="t")
    repo.commit("main", ChangeSet().put(entry("d/007", 3)).put(entry("d/200", 3)), author="t", message="m")
    head = repo.resolve("main").id
    repo.reader.cache = NodeCache()
    nodes.reads = 0
    found = repo.merge_conflicts("topic", "main")
    assert [(c.path, c.ours, c.theirs) for c in found] == [("d/007", entry("d/007", 3), entry("d/007", 2))]
    assert nodes.reads == 0  # both sides' recorded deltas answer it: no tree is opened
    assert repo.resolve("main").id == head
    repo.commit("topic", ChangeSet().put(entry("d/007", 3)), author="t", message="settle")
    assert repo.merge_conflicts("topic", "main") == []
    assert repo.merge_conflicts("main~1", "main") == []  # already merged: nothing to stop on


def counted_repo(seed: Iterable[str]) -> tuple[Repository, CountingNodes]:
    """A repository on memory stores that counts node reads, with blobs of versions 1 to 6
    uploaded and ``seed`` committed on main at version 1."""
    stores = memory_stores()
    nodes = CountingNodes()
    stores = stores.__class__(stores.refs, stores.commits, nodes, stores.blobs, stores.deltas)
    assert isinstance(stores.blobs, MemoryBlobIndex)
    stores.blobs.register((BlobId(f"{v:064x}"), v) for v in range(1, 7))
    repo = Repository(stores)
    repo.init("main", author="t")
    changes = ChangeSet()
    for path in seed:
        changes.put(entry(path, 1))
    repo.commit("main", changes, author="t", message="seed")
    return repo, nodes


line_edits = st.lists(
    st.dictionaries(
        st.sampled_from([f"d/{i:03d}" for i in range(40)]), st.one_of(st.none(), st.integers(1, 6))
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(line_edits, st.data())
def test_diffs_along_a_line_of_commits_compose_their_deltas(
    edits: list[dict[str, int | None]], data: st.DataObject
) -> None:
    repo, nodes = counted_repo(f"d/{i:03d}" for i in range(0, 40, 2))
    for batch in edits:
        changes = ChangeSet()
        for path, version in batch.items():
            changes.put(entry(path, version)) if version else changes.delete(path)
        repo.commit("main", changes, author="t", message="edit", allow_empty=True)
    depth = data.draw(st.integers(1, len(edits)))
    ancestor = repo.resolve(f"main~{depth}")
    head = repo.resolve("main")
    walked = list(diff_trees(repo.reader, ancestor.tree, head.tree))
    backwards = list(diff_trees(repo.reader, head.tree, ancestor.tree))
    repo.reader.cache = NodeCache()
    nodes.reads = 0
    assert repo.diff(f"main~{depth}", "main") == walked
    assert repo.diff("main", f"main~{depth}") == backwards
    assert repo.diff(f"main~{depth}", "main", prefix="d/01") == [
        c for c in walked if c.path.startswith("d/01")
    ]
    assert nodes.reads == 0  # every step recorded its delta: no tree is opened


def test_a_line_with_a_step_not_recorded_walks_the_trees() -> None:
    stores = memory_stores()
    assert isinstance(stores.blobs, MemoryBlobIndex)
    stores.blobs.register((BlobId(f"{v:064x}"), v) for v in range(1, 4))
    repo = Repository(stores)
    repo.init("main", author="t")
    repo.commit("main", ChangeSet().put(entry("a", 1)).put(entry("b", 1)), author="t", message="seed")
    repo.commit("main", ChangeSet().put(entry("a", 2)), author="t", message="one")
    subset, _ = repo.build_tree(iter([entry("a", 2), entry("c", 3)]))
    repo.commit_tree("main", subset, author="t", message="zero-copy: no delta", metadata={})
    repo.commit("main", ChangeSet().put(entry("b", 3)), author="t", message="three")
    assert [(c.path, c.kind.value) for c in repo.diff("main~3", "main")] == [
        ("a", "modified"),
        ("b", "modified"),
        ("c", "added"),
    ]


def test_a_summary_in_other_python_types_is_no_change_and_no_conflict() -> None:
    repo, _ = counted_repo(f"d/{i:03d}" for i in range(300))
    dims = Entry("d/001", f"{1:064x}", 1, "application/dicom", {"dims": [512, 512]})
    repo.commit("main", ChangeSet().put(dims), author="t", message="summary")
    repo.create_branch("topic", "main")
    repo.commit("topic", ChangeSet().put(entry("d/001", 2)), author="t", message="theirs")
    same = dims._replace(summary={"dims": (512, 512)})  # equal once stored as JSON
    with pytest.raises(InvalidInput, match="nothing to commit"):
        repo.commit("main", ChangeSet().put(same), author="t", message="no-op")
    repo.commit("main", ChangeSet().put(same).put(entry("d/002", 3)), author="t", message="ours")
    assert [c.path for c in repo.diff("main~1", "main")] == ["d/002"]
    repo.merge("topic", "main", author="t")  # no false conflict on d/001
    assert repo.stat("main", "d/001").blob == f"{2:064x}"


def test_a_fast_forward_merge_records_the_delta_of_its_commit() -> None:
    repo, nodes = counted_repo(f"d/{i:03d}" for i in range(300))
    repo.create_branch("topic", "main")
    repo.commit("topic", ChangeSet().put(entry("d/001", 2)), author="t", message="one")
    repo.commit("topic", ChangeSet().delete("d/002"), author="t", message="two")
    repo.merge("topic", "main", author="t")
    repo.reader.cache = NodeCache()
    nodes.reads = 0
    assert [(c.path, c.kind.value) for c in repo.diff("main~1", "main")] == [
        ("d/001", "modified"),
        ("d/002", "removed"),
    ]
    assert nodes.reads == 0


def test_fsck_reports_a_missing_node_of_a_tree_with_a_delta(tmp_path: Path) -> None:
    repo, nodes = counted_repo(f"d/{i:03d}" for i in range(300))
    head = repo.commit("main", ChangeSet().put(entry("d/001", 2)), author="t", message="edit")
    del nodes.nodes[head.tree]
    stores = repo.stores
    blobs = BlobStore(FileStore(tmp_path))
    report = fsck(stores.commits, stores.nodes, blobs, stores.deltas, {head.id: "main"})
    assert any("is missing" in problem for problem in report.problems)
