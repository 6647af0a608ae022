"""Commit storage protocol and history walks: merge base and log."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Protocol

from imagehub.core.errors import NotFound
from imagehub.core.vcs.types import Commit, CommitId


class CommitStore(Protocol):
    def get_many(self, ids: Iterable[CommitId]) -> dict[CommitId, Commit]:
        """The commits of those ids that exist in this repository."""

    def add(self, commit: Commit) -> None:
        """Record a commit (a no-op when it is already there)."""

    def find_prefix(self, prefix: str, limit: int) -> list[CommitId]:
        """Ids starting with ``prefix``, at most ``limit`` of them."""

    def hold(self, ids: Iterable[CommitId]) -> None:
        """Keep these commits from garbage collection until the transaction ends; raises
        ``NotFound`` when one is gone (collected since it was read). A commit that is still
        there keeps everything it reaches: gc removes a commit with the rest of what it
        found unreachable, or nothing of it."""


def get_commit(store: CommitStore, commit_id: CommitId) -> Commit:
    commit = store.get_many([commit_id]).get(commit_id)
    if commit is None:
        raise NotFound(f"commit {commit_id} not found")
    return commit


def merge_base(store: CommitStore, left: CommitId, right: CommitId) -> CommitId | None:
    """A best common ancestor of two commits (None when histories are unrelated): the
    newest of ``merge_bases``, found without walking on to the others (an ancestry test
    on a long history stops at the first)."""
    return next(_best_bases(store, [left], right), None)


def merge_bases(store: CommitStore, left: CommitId, right: CommitId) -> list[CommitId]:
    """Every best common ancestor of two commits (none descends from another), newest
    first. Criss-cross merges leave more than one."""
    return list(_best_bases(store, [left], right))


def merge_bases_of_many(store: CommitStore, lefts: list[CommitId], right: CommitId) -> list[CommitId]:
    """The best common ancestors of ``right`` and a commit whose parents would be
    ``lefts``: what git merges a further base of a criss-cross merge on."""
    return list(_best_bases(store, lefts, right))


_LEFT, _RIGHT, _BOTH, _BELOW_A_BASE = 1, 2, 3, 4


def _best_bases(store: CommitStore, lefts: list[CommitId], right: CommitId) -> Iterator[CommitId]:
    """Best common ancestors of the ``lefts`` together and ``right``, newest first.

    Commits are visited newest generation first, so every child has passed its marks
    down before a parent is looked at: a commit reached from both sides is a best common
    ancestor unless it lies below one found already. The walk ends once everything left
    to visit lies below one.
    """
    if right in lefts:
        yield right
        return
    marks: dict[CommitId, int] = dict.fromkeys(lefts, _LEFT)
    marks[right] = _RIGHT
    commits = store.get_many(marks)
    heap = [(-commits[c].generation, c) for c in marks]
    heapq.heapify(heap)
    done: set[CommitId] = set()
    while heap and not all(marks[c] & _BELOW_A_BASE for _, c in heap):
        _, commit_id = heapq.heappop(heap)
        if commit_id in done:
            continue
        done.add(commit_id)
        mark = marks[commit_id]
        if mark == _BOTH:
            yield commit_id
            mark |= _BELOW_A_BASE  # its ancestors are common too, but not best
        parents = commits[commit_id].parents
        missing = [p for p in parents if p not in commits]
        if missing:
            commits.update(store.get_many(missing))
        for parent in parents:
            marks[parent] = marks.get(parent, 0) | mark
            heapq.heappush(heap, (-commits[parent].generation, parent))


def in_history_of(store: CommitStore, heads: Iterable[CommitId], target: CommitId) -> bool:
    """Whether ``target`` is one of ``heads`` or an ancestor of one. All heads are walked
    together, a generation of parents per lookup, and never below the target's generation
    (nothing there descends from it): the cost is the history above the target, once."""
    found = store.get_many([target]).get(target)
    if found is None:
        return False
    frontier = set(heads)
    seen = set(frontier)
    while frontier:
        if target in frontier:
            return True
        parents: set[CommitId] = set()
        for commit in store.get_many(frontier).values():
            if commit.generation > found.generation:
                parents.update(p for p in commit.parents if p not in seen)
        seen |= parents
        frontier = parents
    return False


def walk_history(store: CommitStore, head: CommitId) -> Iterator[Commit]:
    """Every ancestor of ``head`` (itself included), newest first, each once."""
    commits = store.get_many([head])
    if head not in commits:
        raise NotFound(f"commit {head} not found")
    heap = [(-commits[head].generation, -commits[head].created_at.timestamp(), head)]
    seen = {head}
    while heap:
        _, _, commit_id = heapq.heappop(heap)
        commit = commits.pop(commit_id)
        yield commit
        fresh = [p for p in commit.parents if p not in seen]
        seen.update(fresh)
        commits.update(store.get_many(fresh))
        for parent in fresh:
            c = commits[parent]
            heapq.heappush(heap, (-c.generation, -c.created_at.timestamp(), parent))
