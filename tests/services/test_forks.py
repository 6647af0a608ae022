"""Derived datasets as forks: their branch's change merges back three-way, subsets included."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import MergeConflict, MergeStrategy, Repository
from imagehub.models.dataset import Dataset
from imagehub.services import datasets, forks
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files


def dataset(session: Session, name: str) -> Dataset:
    return datasets.get(session, owner="lab", name=name)


def repo(session: Session, name: str) -> Repository:
    return datasets.repository(session, dataset(session, name))


def contents(session: Session, name: str, ref: str = "main") -> dict[str, str]:
    return {e.path: e.blob for e in repo(session, name).list_objects(ref)}


@pytest.fixture
def upstream(platform: Platform) -> Platform:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="brain", author="lab")
    commit_files(platform, "lab", "brain", "main", {"t1/a": b"a", "t1/b": b"b", "t2/c": b"c"})
    with platform.sessions.begin() as session:
        source = dataset(session, "brain")
        datasets.derive(session, source=source, ref="main", owner="lab", name="fork", author="fred")
        datasets.derive(
            session, source=source, ref="main", owner="lab", name="t1", author="fred", prefixes=["t1/"]
        )
    return platform


def merge(platform: Platform, fork: str, strategy: MergeStrategy = MergeStrategy.FAIL) -> str:
    with platform.sessions.begin() as session:
        source = forks.fork_branch(session, dataset(session, "brain"), dataset(session, fork), "main")
        made = forks.merge(
            repo(session, "brain"),
            source,
            "main",
            author="lab",
            message=f"Merge {source.label}",
            strategy=strategy,
            metadata={"proposal": "1"},
        )
        assert made.metadata["merged_from"] == f"lab/{fork}:main"
        assert made.metadata["merged_commit"] == source.head.id
        return made.id


def test_a_forks_change_merges_back_beside_upstream_work(upstream: Platform) -> None:
    commit_files(upstream, "lab", "fork", "main", {"t1/a": b"A2", "t2/c": None, "t3/d": b"d"})
    commit_files(upstream, "lab", "brain", "main", {"t4/e": b"e"})  # upstream moved on meanwhile
    with upstream.sessions() as session:
        expected = {**contents(session, "fork"), "t4/e": contents(session, "brain")["t4/e"]}
    merge(upstream, "fork")
    with upstream.sessions() as session:
        assert contents(session, "brain") == expected
        head = repo(session, "brain").resolve("main")
        assert len(head.parents) == 1  # the fork's commits stay in the fork


def test_a_subset_fork_leaves_what_it_did_not_take(upstream: Platform) -> None:
    commit_files(upstream, "lab", "t1", "main", {"t1/b": None, "t1/new": b"n"})
    with upstream.sessions() as session:
        before = contents(session, "brain")
    merge(upstream, "t1")
    with upstream.sessions() as session:
        after = contents(session, "brain")
    assert set(after) == {"t1/a", "t1/new", "t2/c"}
    assert after["t2/c"] == before["t2/c"]


def test_conflicts_are_reported_and_strategies_apply(upstream: Platform) -> None:
    commit_files(upstream, "lab", "fork", "main", {"t1/a": b"fork"})
    commit_files(upstream, "lab", "brain", "main", {"t1/a": b"upstream"})
    with pytest.raises(MergeConflict) as conflict:
        merge(upstream, "fork")
    assert [c.path for c in conflict.value.conflicts] == ["t1/a"]
    merge(upstream, "fork", MergeStrategy.THEIRS)
    with upstream.sessions() as session:
        assert contents(session, "brain")["t1/a"] == contents(session, "fork")["t1/a"]


def test_only_derived_datasets_are_forks(upstream: Platform) -> None:
    with upstream.sessions.begin() as session:
        datasets.create(session, owner="lab", name="other", author="lab")
    commit_files(upstream, "lab", "other", "main", {"x": b"x"})
    with upstream.sessions() as session:
        brain = dataset(session, "brain")
        with pytest.raises(InvalidInput, match="lab/other:main is not derived from lab/brain"):
            forks.fork_branch(session, brain, dataset(session, "other"), "main")
        with pytest.raises(InvalidInput, match="no branch 'nope' in lab/fork"):
            forks.fork_branch(session, brain, dataset(session, "fork"), "nope")
        with pytest.raises(InvalidInput, match="not a fork of itself"):
            forks.fork_branch(session, brain, brain, "main")


def test_an_unchanged_fork_has_nothing_to_merge(upstream: Platform) -> None:
    with pytest.raises(InvalidInput, match="nothing to merge"):
        merge(upstream, "fork")
