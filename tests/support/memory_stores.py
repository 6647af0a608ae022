"""In-memory stores that honour the engine's store protocols: fakes, not mocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from imagehub.core.errors import NotFound
from imagehub.core.vcs import BlobId, Commit, CommitId, NodeId, Ref, RefConflict, RefKind, Repository, Stores


class MemoryNodes:
    def __init__(self) -> None:
        self.nodes: dict[NodeId, bytes] = {}

    def get_many(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        return {i: self.nodes[i] for i in ids if i in self.nodes}

    def put_many(self, nodes: Mapping[NodeId, bytes]) -> None:
        self.nodes.update(nodes)


class MemoryDeltas:
    def __init__(self) -> None:
        self.deltas: dict[tuple[NodeId, NodeId], bytes] = {}

    def get_many(self, keys: Iterable[tuple[NodeId, NodeId]]) -> dict[tuple[NodeId, NodeId], bytes]:
        return {k: self.deltas[k] for k in keys if k in self.deltas}

    def put_many(self, deltas: Mapping[tuple[NodeId, NodeId], bytes]) -> None:
        for key, payload in deltas.items():
            self.deltas.setdefault(key, payload)


class MemoryCommits:
    def __init__(self) -> None:
        self.commits: dict[CommitId, Commit] = {}

    def get_many(self, ids: Iterable[CommitId]) -> dict[CommitId, Commit]:
        return {i: self.commits[i] for i in ids if i in self.commits}

    def add(self, commit: Commit) -> None:
        self.commits.setdefault(commit.id, commit)

    def find_prefix(self, prefix: str, limit: int) -> list[CommitId]:
        return sorted(c for c in self.commits if c.startswith(prefix))[:limit]

    def hold(self, ids: Iterable[CommitId]) -> None:
        if gone := set(ids) - self.commits.keys():
            raise NotFound(f"commit {min(gone)} no longer exists")


class CountingCommits(MemoryCommits):
    """Commits in memory that count the store's lookups, and build simple histories."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    def get_many(self, ids: Iterable[CommitId]) -> dict[CommitId, Commit]:
        self.lookups += 1
        return super().get_many(ids)

    def make(self, *parents: CommitId) -> CommitId:
        generation = 1 + max((self.commits[p].generation for p in parents), default=0)
        commit_id = CommitId(f"{len(self.commits) + 1:064x}")
        self.add(Commit(commit_id, "t", parents, "a", "m", datetime.now(UTC), {}, generation))
        return commit_id

    def line(self, start: CommitId, length: int) -> list[CommitId]:
        """``start`` and ``length`` commits after it, each the child of the one before."""
        commits = [start]
        for _ in range(length):
            commits.append(self.make(commits[-1]))
        return commits


class MemoryRefs:
    def __init__(self) -> None:
        self.refs: dict[tuple[RefKind, str], Ref] = {}

    def get(self, name: str, kind: RefKind) -> Ref | None:
        return self.refs.get((kind, name))

    def list(self, kind: RefKind, *, prefix: str = "", after: str = "", limit: int = 100) -> list[Ref]:
        names = sorted(n for k, n in self.refs if k is kind and n.startswith(prefix) and n > after)
        return [self.refs[(kind, n)] for n in names[:limit]]

    def create(self, ref: Ref) -> None:
        if (ref.kind, ref.name) in self.refs:
            raise RefConflict(ref.name)
        self.refs[(ref.kind, ref.name)] = ref

    def compare_and_swap(self, name: str, expected: CommitId, new: CommitId) -> None:
        ref = self.refs.get((RefKind.BRANCH, name))
        if ref is None or ref.commit != expected:
            raise RefConflict(name)
        self.refs[(RefKind.BRANCH, name)] = Ref(name, RefKind.BRANCH, new, ref.protected)

    def set_protected(self, name: str, protected: bool) -> None:
        ref = self.refs[(RefKind.BRANCH, name)]
        self.refs[(RefKind.BRANCH, name)] = Ref(name, RefKind.BRANCH, ref.commit, protected)

    def delete(self, name: str, kind: RefKind) -> bool:
        return self.refs.pop((kind, name), None) is not None


class MemoryBlobIndex:
    def __init__(self) -> None:
        self.blobs: dict[BlobId, int] = {}

    def register(self, blobs: Iterable[tuple[BlobId, int]]) -> None:
        self.blobs.update(blobs)

    def touch(self, blobs: Iterable[BlobId]) -> dict[BlobId, int]:
        return {b: self.blobs[b] for b in blobs if b in self.blobs}


def memory_stores() -> Stores:
    return Stores(
        refs=MemoryRefs(),
        commits=MemoryCommits(),
        nodes=MemoryNodes(),
        blobs=MemoryBlobIndex(),
        deltas=MemoryDeltas(),
    )


def repository_holding(*blobs: tuple[BlobId, int]) -> Repository:
    """A new in-memory repository with ``main`` and the given blobs stored."""
    stores = memory_stores()
    assert isinstance(stores.blobs, MemoryBlobIndex)
    stores.blobs.register(list(blobs))
    repository = Repository(stores)
    repository.init("main", author="tester")
    return repository
