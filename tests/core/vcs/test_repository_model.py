"""Random histories of commits, branches, merges and reverts against a trivially correct model."""

from __future__ import annotations

from itertools import count

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from imagehub.core.errors import Conflict, InvalidInput
from imagehub.core.vcs import BlobId, ChangeSet, Entry, MergeConflict, MergeStrategy, RefKind, Repository
from tests.support.memory_stores import MemoryBlobIndex, memory_stores

BLOBS = [BlobId(f"{i:064x}") for i in range(1, 9)]
PATHS = [f"{d}/{f}.dcm" for d in ("ct", "mr", "mr/t1") for f in range(4)]
Snapshot = dict[str, Entry]


def three_way(base: Snapshot, ours: Snapshot, theirs: Snapshot, strategy: MergeStrategy) -> Snapshot | None:
    """The obvious merge of dict snapshots; None when ``fail`` meets a conflict."""
    result = dict(ours)
    for path in set(base) | set(ours) | set(theirs):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if t in (b, o):
            continue
        if o != b and strategy is MergeStrategy.FAIL:
            return None
        if o != b and strategy is MergeStrategy.OURS:
            continue
        if t is None:
            result.pop(path, None)
        else:
            result[path] = t
    return result


def keep_base_on_conflict(base: Snapshot, ours: Snapshot, theirs: Snapshot) -> Snapshot:
    """The merge that builds a criss-cross merge's virtual base: each side's own changes,
    and the base's version where both changed a path differently."""
    result = dict(ours)
    for path in set(base) | set(ours) | set(theirs):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if t in (b, o):
            continue
        chosen = b if o != b else t
        if chosen is None:
            result.pop(path, None)
        else:
            result[path] = chosen
    return result


class History(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        stores = memory_stores()
        assert isinstance(stores.blobs, MemoryBlobIndex)
        stores.blobs.register((b, 10) for b in BLOBS)
        ticks = count()
        from datetime import UTC, datetime, timedelta

        epoch = datetime(2026, 1, 1, tzinfo=UTC)
        self.repo = Repository(stores, clock=lambda: epoch + timedelta(seconds=next(ticks)))
        root = self.repo.init("main", author="tester")
        self.snapshots: dict[str, Snapshot] = {root.id: {}}
        self.parents: dict[str, tuple[str, ...]] = {root.id: ()}
        self.branches: dict[str, str] = {"main": root.id}

    def _record(self, commit_id: str, parents: tuple[str, ...], snapshot: Snapshot) -> None:
        self.snapshots[commit_id] = snapshot
        self.parents[commit_id] = parents

    def _generation(self, commit_id: str) -> int:
        return 1 + max((self._generation(p) for p in self.parents[commit_id]), default=0)

    def _best_bases(self, left: str, right: str) -> list[str]:
        """Common ancestors that no other common ancestor descends from, newest first."""
        common = self._ancestors(left) & self._ancestors(right)
        best = [c for c in common if not any(c in self._ancestors(o) - {o} for o in common)]
        return sorted(best, key=lambda c: (-self._generation(c), c))

    def _virtual_base(self, bases: list[str]) -> Snapshot:
        """git's recursive base: the best bases merged on their own bases in turn."""
        if not bases:
            return {}
        snapshot = self.snapshots[bases[0]]
        for other in bases[1:]:
            inner = self._virtual_base(self._best_bases(bases[0], other))
            snapshot = keep_base_on_conflict(inner, snapshot, self.snapshots[other])
        return snapshot

    def _ancestors(self, commit_id: str) -> set[str]:
        seen, todo = set(), [commit_id]
        while todo:
            c = todo.pop()
            if c not in seen:
                seen.add(c)
                todo.extend(self.parents[c])
        return seen

    @rule(
        branch=st.sampled_from(["main", "b1", "b2", "b3"]),
        puts=st.dictionaries(st.sampled_from(PATHS), st.sampled_from(BLOBS), max_size=5),
        deletes=st.sets(st.sampled_from(PATHS), max_size=3),
        prefix_delete=st.sampled_from([None, "mr/", "mr/t1/", "ct/"]),
    )
    def commit(
        self, branch: str, puts: dict[str, BlobId], deletes: set[str], prefix_delete: str | None
    ) -> None:
        if branch not in self.branches:
            return
        changes = ChangeSet()
        expected = dict(self.snapshots[self.branches[branch]])
        if prefix_delete:
            changes.delete_prefix(prefix_delete)
            expected = {p: e for p, e in expected.items() if not p.startswith(prefix_delete)}
        for path in deletes:
            changes.delete(path)
            expected.pop(path, None)
        for path, blob in puts.items():
            entry = Entry(path, blob, 10)
            changes.put(entry)
            expected[path] = entry
        try:
            commit = self.repo.commit(branch, changes, author="tester", message="change")
        except InvalidInput:
            assert expected == self.snapshots[self.branches[branch]]  # refused only when nothing changes
            return
        assert commit.parents == (self.branches[branch],)
        self._record(commit.id, commit.parents, expected)
        self.branches[branch] = commit.id

    @rule(name=st.sampled_from(["b1", "b2", "b3"]), source=st.sampled_from(["main", "b1", "b2", "b3"]))
    def branch(self, name: str, source: str) -> None:
        if source not in self.branches:
            return
        if name in self.branches:
            with pytest.raises(Conflict):
                self.repo.create_branch(name, source)
            return
        ref = self.repo.create_branch(name, source)
        assert ref.commit == self.branches[source]
        self.branches[name] = ref.commit

    @rule(
        source=st.sampled_from(["main", "b1", "b2", "b3"]),
        destination=st.sampled_from(["main", "b1", "b2", "b3"]),
        strategy=st.sampled_from(list(MergeStrategy)),
    )
    def merge(self, source: str, destination: str, strategy: MergeStrategy) -> None:
        if source not in self.branches or destination not in self.branches or source == destination:
            return
        self._merge(source, self.branches[source], destination, strategy)

    @precondition(lambda self: len(self.snapshots) > 2)
    @rule(
        destination=st.sampled_from(["main", "b1", "b2", "b3"]),
        strategy=st.sampled_from(list(MergeStrategy)),
        data=st.data(),
    )
    def merge_commit(self, destination: str, strategy: MergeStrategy, data: st.DataObject) -> None:
        """Merging an older commit, not a branch head, is what makes criss-cross histories."""
        if destination not in self.branches:
            return
        source = data.draw(st.sampled_from(sorted(self.snapshots)))
        self._merge(source, source, destination, strategy)

    def _merge(self, source: str, theirs_id: str, destination: str, strategy: MergeStrategy) -> None:
        ours_id = self.branches[destination]
        if theirs_id in self._ancestors(ours_id):
            with pytest.raises(InvalidInput):
                self.repo.merge(source, destination, author="tester", strategy=strategy)
            return
        try:
            merged = self.repo.merge(source, destination, author="tester", strategy=strategy)
        except MergeConflict:
            merged = None
        base = self._virtual_base(self._best_bases(ours_id, theirs_id))
        expected = three_way(base, self.snapshots[ours_id], self.snapshots[theirs_id], strategy)
        if merged is None:
            assert expected is None
            return
        actual = {e.path: e for e in self.repo.list_objects(merged.id, limit=1000)}
        assert actual == expected
        assert merged.parents == (ours_id, theirs_id)
        self._record(merged.id, merged.parents, actual)
        self.branches[destination] = merged.id

    @precondition(lambda self: len(self.snapshots) > 1)
    @rule(branch=st.sampled_from(["main", "b1"]), data=st.data())
    def revert(self, branch: str, data: st.DataObject) -> None:
        if branch not in self.branches:
            return
        head = self.branches[branch]
        candidates = sorted(c for c in self._ancestors(head) if len(self.parents[c]) == 1)
        if not candidates:
            return
        target = data.draw(st.sampled_from(candidates))
        expected = three_way(
            self.snapshots[target],
            self.snapshots[head],
            self.snapshots[self.parents[target][0]],
            MergeStrategy.FAIL,
        )
        try:
            commit = self.repo.revert(branch, target, author="tester")
        except MergeConflict:
            assert expected is None
            return
        except InvalidInput:  # the revert would change nothing: no commit, as for a plain commit
            assert expected == self.snapshots[head]
            return
        assert expected is not None
        assert expected != self.snapshots[head]
        self._record(commit.id, commit.parents, expected)
        self.branches[branch] = commit.id

    @invariant()
    def branches_hold_their_snapshots(self) -> None:
        if not hasattr(self, "repo"):
            return
        for name, commit_id in self.branches.items():
            assert self.repo.get_ref(name, RefKind.BRANCH).commit == commit_id
            entries = self.repo.list_objects(name, limit=1000)
            assert {e.path: e for e in entries} == self.snapshots[commit_id]
            assert [e.path for e in entries] == sorted(self.snapshots[commit_id])


History.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_random_histories_match_the_model = History.TestCase
