"""Whether a commit lies in the history of some heads: the PHI gate asks it on every read by
tag or commit id, over every branch that is not PHI-bearing."""

from __future__ import annotations

from imagehub.core.vcs.commits import in_history_of
from imagehub.core.vcs.types import CommitId
from tests.support.memory_stores import CountingCommits


def test_a_commit_is_found_in_the_history_of_any_head_and_not_beside_it() -> None:
    store = CountingCommits()
    root = store.make()
    main = store.line(root, 5)
    side = store.line(main[2], 3)
    merged = store.make(main[-1], side[-1])
    assert in_history_of(store, [merged], side[1])
    assert in_history_of(store, [main[-1]], main[-1])
    assert not in_history_of(store, [main[-1]], side[1])
    assert not in_history_of(store, [main[-1], side[-1]], merged)
    assert not in_history_of(store, [main[-1]], CommitId("f" * 64))


def test_many_long_branches_are_walked_together_and_not_below_the_target() -> None:
    """Five branches of 500 commits: a commit 100 back on one costs about 100 lookups, not
    a walk of each branch's whole history."""
    store = CountingCommits()
    root = store.make()
    branches = [store.line(root, 500) for _ in range(5)]
    target = branches[3][400]
    store.lookups = 0
    assert in_history_of(store, [b[-1] for b in branches], target)
    assert store.lookups <= 110
    store.lookups = 0
    assert not in_history_of(store, [b[-1] for b in branches[:3]], target)
    assert store.lookups <= 110
