"""Reachability for garbage collection, and fsck: read-only integrity checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from imagehub.core.errors import ImageHubError
from imagehub.core.vcs.blobs import BlobStore
from imagehub.core.vcs.commits import CommitStore
from imagehub.core.vcs.deltas import DeltaKey, DeltaStore, decode_delta
from imagehub.core.vcs.diff import diff_trees
from imagehub.core.vcs.nodes import EMPTY_TREE_ID, CorruptObject, NodeCache, NodeReader, NodeStore
from imagehub.core.vcs.types import BlobId, Commit, CommitId, NodeId


@dataclass
class Reachable:
    commits: set[CommitId] = field(default_factory=set)
    nodes: set[NodeId] = field(default_factory=set)
    blobs: set[BlobId] = field(default_factory=set)


def _commits_from(
    store: CommitStore, roots: Iterable[CommitId], known: set[CommitId]
) -> dict[CommitId, Commit]:
    """The history of ``roots``, short of the ``known`` commits (and so of their history)."""
    seen: dict[CommitId, Commit] = {}
    frontier = set(roots) - known
    while frontier:
        found = store.get_many(frontier)
        seen.update(found)
        frontier = {p for c in found.values() for p in c.parents if p not in seen and p not in known}
    return seen


def mark(
    commits: CommitStore, nodes: NodeStore, roots: Iterable[CommitId], into: Reachable | None = None
) -> Reachable:
    """Everything reachable from ``roots``: their history, every tree node and blob. Given
    ``into`` (an earlier mark), only what it lacks is walked, and added to it."""
    reachable = into if into is not None else Reachable()
    history = _commits_from(commits, roots, reachable.commits)
    reachable.commits |= set(history)
    reader = NodeReader(nodes, NodeCache(capacity=1024))
    pending = [c.tree for c in history.values()]
    while pending:
        node_id = pending.pop()
        if node_id in reachable.nodes or node_id == EMPTY_TREE_ID:
            continue
        reachable.nodes.add(node_id)
        node = reader.get(node_id)
        if node.level == 0:
            reachable.blobs.update(BlobId(item[1]) for item in node.items)
        else:
            pending.extend(item.node for item in node.items if item.node not in reachable.nodes)  # type: ignore[union-attr]
    return reachable


@dataclass
class FsckReport:
    commits: int = 0
    nodes: int = 0
    blobs: int = 0
    deltas: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def fsck(
    commits: CommitStore,
    nodes: NodeStore,
    blobs: BlobStore,
    deltas: DeltaStore,
    roots: Mapping[CommitId, str],
    *,
    deep: bool = False,
) -> FsckReport:
    """Check that every reachable object is present and hashes to its address, and that
    each recorded delta between a commit and its parent says what its trees say.
    ``roots`` maps each commit to start from to what names it (a dataset's ref), for the
    report.

    Reports problems; never repairs. Each blob's stored size is compared with the size the
    tree records; ``deep`` also re-hashes every blob's bytes.
    """
    report = FsckReport()
    try:
        history = _commits_from(commits, roots, set())
    except CorruptObject as damaged:  # a commit that cannot be read ends the walk, reported
        report.problems.append(str(damaged))
        return report
    missing_commits = set(roots) - set(history)
    report.problems += [f"commit {c} is missing, but {roots[c]} names it" for c in sorted(missing_commits)]
    reader = NodeReader(nodes, NodeCache(capacity=1024), verify=True)
    seen_nodes: set[NodeId] = set()
    seen_blobs: set[BlobId] = set()
    for commit in history.values():
        report.commits += 1
        if not commit.has_valid_id():
            report.problems.append(f"commit {commit.id} does not hash to its id")
        report.problems += [
            f"commit {commit.id} names missing parent {p}" for p in commit.parents if p not in history
        ]
        pending = [(commit.tree, commit.id)]
        while pending:
            node_id, owner = pending.pop()
            if node_id in seen_nodes or node_id == EMPTY_TREE_ID:
                continue
            seen_nodes.add(node_id)
            try:
                node = reader.get(node_id)
            except ImageHubError as exc:
                report.problems.append(f"{exc} (in the tree of commit {owner})")
                continue
            if node.level > 0:
                pending.extend((item.node, owner) for item in node.items)  # type: ignore[union-attr]
                continue
            for item in node.items:
                blob = BlobId(item[1])
                if blob in seen_blobs:
                    continue
                seen_blobs.add(blob)
                stored = blobs.stored_size(blob)
                if stored is None:
                    report.problems.append(f"blob {blob} of {item[0]!r} is missing (commit {owner})")
                elif stored != item[2]:
                    report.problems.append(
                        f"blob {blob} of {item[0]!r} is {stored} bytes, not {item[2]} (commit {owner})"
                    )
                elif deep and not blobs.verify(blob):
                    report.problems.append(f"blob {blob} of {item[0]!r} does not hash to its id")
    report.nodes = len(seen_nodes)
    report.blobs = len(seen_blobs)
    _check_deltas(history, reader, deltas, report)
    return report


def _check_deltas(
    history: dict[CommitId, Commit], reader: NodeReader, deltas: DeltaStore, report: FsckReport
) -> None:
    pairs = {(history[p].tree, c.tree) for c in history.values() for p in c.parents if p in history}
    for key, payload in deltas.get_many(pairs).items():
        report.deltas += 1
        changes = decode_delta(payload)
        if changes is None:
            report.problems.append(f"delta {_named(key)} fails its checksum")
            continue
        try:
            walked = list(diff_trees(reader, *key))
        except ImageHubError:
            continue  # a tree it names is damaged: reported above, with its commit
        if changes != walked:
            report.problems.append(f"delta {_named(key)} does not match its trees")


def _named(key: DeltaKey) -> str:
    return f"{key[0][:12]}..{key[1][:12]}"
