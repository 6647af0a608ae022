"""The engine over the real databases (SQLite and PostgreSQL) through the services."""

from __future__ import annotations

import pytest

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import BranchMoved, ChangeSet, Entry, MissingBlobs, ProtectedBranch, RefKind, blob_key
from imagehub.models.vcs import NodeRow
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files


@pytest.fixture
def dataset(platform: Platform) -> str:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="brain", author="tester")
    return "brain"


def repo_of(session, name: str = "brain"):  # type: ignore[no-untyped-def]
    return datasets.repository(session, datasets.get(session, owner="lab", name=name))


def test_dataset_lifecycle(platform: Platform, dataset: str) -> None:
    with platform.sessions.begin() as session:
        with pytest.raises(Conflict):
            datasets.create(session, owner="lab", name="brain", author="t")
        assert [d.name for d in datasets.list_datasets(session)] == ["brain"]
        head = repo_of(session).resolve("main")
        assert head.parents == ()
        assert repo_of(session).count("main") == 0
    with platform.sessions.begin() as session:
        datasets.delete(session, owner="lab", name="brain")
    with platform.sessions.begin() as session:
        with pytest.raises(NotFound):
            datasets.get(session, owner="lab", name="brain")
        restored = datasets.restore(session, owner="lab", name="brain")
        assert restored.deleted_at is None
    with platform.sessions.begin() as session:
        assert repo_of(session).resolve("main").id == head.id  # history survived the round trip


@pytest.mark.parametrize("name", ["", "-x", "a b", "../etc", "x" * 101, "name.git"])
def test_bad_dataset_names(platform: Platform, name: str) -> None:
    with platform.sessions.begin() as session, pytest.raises(InvalidInput):
        datasets.create(session, owner="lab", name=name, author="t")


def test_commit_read_diff_log(platform: Platform, dataset: str) -> None:
    first = commit_files(
        platform, "lab", "brain", "main", {"s1/a.dcm": b"A" * 100, "s1/b.dcm": b"B", "s2/c.dcm": b"C"}
    )
    second = commit_files(
        platform, "lab", "brain", "main", {"s1/a.dcm": b"A2", "s2/c.dcm": None, "s3/d.dcm": b"D"}
    )
    with platform.sessions() as session:
        repo = repo_of(session)
        assert [e.path for e in repo.list_objects("main")] == ["s1/a.dcm", "s1/b.dcm", "s3/d.dcm"]
        assert [e.path for e in repo.list_objects("main", prefix="s1/", after="s1/a.dcm")] == ["s1/b.dcm"]
        assert repo.stat(first.id, "s2/c.dcm").size == 1
        changes = repo.diff(first.id, "main")
        assert [(c.path, c.kind.value) for c in changes] == [
            ("s1/a.dcm", "modified"),
            ("s2/c.dcm", "removed"),
            ("s3/d.dcm", "added"),
        ]
        assert changes[0].as_dict()["size_delta"] == 2 - 100
        assert [c.id for c in repo.log("main")] == [second.id, first.id, first.parents[0]]
        assert [c.id for c in repo.log("main", path="s2")] == [second.id, first.id]
        assert [c.id for c in repo.log("main", path="s1/b.dcm")] == [first.id]
        assert [c.id for c in repo.log("main", after=second.id, limit=1)] == [first.id]
        assert repo.resolve("main~1").id == first.id
        assert repo.resolve(second.id[:10]).id == second.id
        with pytest.raises(NotFound):
            repo.resolve("nope")


def test_commit_ids_are_content_hashes_and_stored_faithfully(platform: Platform, dataset: str) -> None:
    commit = commit_files(platform, "lab", "brain", "main", {"x.dcm": b"x"})
    with platform.sessions() as session:
        stored = repo_of(session).resolve(commit.id)
    assert stored.has_valid_id()
    assert stored.id == commit.id
    assert stored.created_at == commit.created_at


def test_branch_is_constant_time_and_copies_nothing(platform: Platform, dataset: str) -> None:
    commit_files(platform, "lab", "brain", "main", {f"p/{i}.dcm": bytes([i]) for i in range(200)})
    with platform.sessions.begin() as session:
        nodes_before = session.query(NodeRow).count()
        ref = repo_of(session).create_branch("feature", "main")
        assert session.query(NodeRow).count() == nodes_before
        assert ref.commit == repo_of(session).resolve("main").id
        with pytest.raises(Conflict):
            repo_of(session).create_branch("feature", "main")
        with pytest.raises(InvalidInput):
            repo_of(session).create_branch("bad/name", "main")


def test_compare_and_swap_refuses_a_stale_writer(platform: Platform, dataset: str) -> None:
    base = commit_files(platform, "lab", "brain", "main", {"a": b"1"})
    commit_files(platform, "lab", "brain", "main", {"a": b"2"})
    blob_commit = commit_files(platform, "lab", "brain", "main", {"b": b"3"})
    with platform.sessions.begin() as session:
        entry = repo_of(session).stat("main", "b")
        with pytest.raises(BranchMoved, match="pull and retry"):
            repo_of(session).commit(
                "main",
                ChangeSet().put(entry._replace(path="c")),
                author="t",
                message="m",
                expected_parent=base.id,
            )
    with platform.sessions() as session:
        assert repo_of(session).resolve("main").id == blob_commit.id


def test_unknown_blobs_are_refused(platform: Platform, dataset: str) -> None:
    with platform.sessions.begin() as session:
        change = ChangeSet().put(Entry("a.dcm", "f" * 64, 3))
        with pytest.raises(MissingBlobs) as error:
            repo_of(session).commit("main", change, author="t", message="m")
        assert error.value.details() == {"missing": ["f" * 64]}


def test_protected_branches_take_only_merges_of_change_proposals(platform: Platform, dataset: str) -> None:
    commit_files(platform, "lab", "brain", "main", {"a": b"1"})
    with platform.sessions.begin() as session:
        repo = repo_of(session)
        repo.create_branch("work", "main")
        assert repo.set_protected("main", True).protected
    with pytest.raises(ProtectedBranch):
        commit_files(platform, "lab", "brain", "main", {"a": b"2"})
    commit_files(platform, "lab", "brain", "work", {"a": b"2"})
    with platform.sessions.begin() as session, pytest.raises(ProtectedBranch):
        repo_of(session).merge("work", "main", author="t")
    with platform.sessions.begin() as session:
        merged = repo_of(session).merge("work", "main", author="t", through_proposal=True)
        assert len(merged.parents) == 2
        with pytest.raises(Conflict):
            repo_of(session).delete_ref("main", RefKind.BRANCH, default_branch="main")


def test_tags_are_immutable(platform: Platform, dataset: str) -> None:
    first = commit_files(platform, "lab", "brain", "main", {"a": b"1"})
    with platform.sessions.begin() as session:
        repo_of(session).create_tag("v1", "main", "first release")
    commit_files(platform, "lab", "brain", "main", {"a": b"2"})
    with platform.sessions.begin() as session:
        repo = repo_of(session)
        with pytest.raises(Conflict):
            repo.create_tag("v1", "main")
        with pytest.raises(Conflict):
            repo.create_branch("v1", "main")  # one namespace for branches and tags
        assert repo.resolve("v1").id == first.id
        assert b"".join(platform.store.get(blob_key(repo.stat("v1", "a").blob))) == b"1"


def test_merge_conflicts_and_strategies(platform: Platform, dataset: str) -> None:
    commit_files(platform, "lab", "brain", "main", {"shared": b"base", "keep": b"k"})
    with platform.sessions.begin() as session:
        repo_of(session).create_branch("other", "main")
    commit_files(platform, "lab", "brain", "main", {"shared": b"ours", "only-ours": b"o"})
    commit_files(platform, "lab", "brain", "other", {"shared": b"theirs", "only-theirs": b"t"})
    with platform.sessions.begin() as session:
        from imagehub.core.vcs import MergeConflict, MergeStrategy

        with pytest.raises(MergeConflict) as error:
            repo_of(session).merge("other", "main", author="t")
        assert [c["path"] for c in error.value.details()["conflicts"]] == ["shared"]  # type: ignore[index]
        merged = repo_of(session).merge("other", "main", author="t", strategy=MergeStrategy.THEIRS)
        paths = {e.path: e for e in repo_of(session).list_objects(merged.id)}
        assert set(paths) == {"keep", "only-ours", "only-theirs", "shared"}
        assert paths["shared"] == repo_of(session).stat("other", "shared")


def test_revert_undoes_one_commit_and_keeps_later_work(platform: Platform, dataset: str) -> None:
    commit_files(platform, "lab", "brain", "main", {"a": b"1", "b": b"1"})
    bad = commit_files(platform, "lab", "brain", "main", {"a": b"broken"})
    commit_files(platform, "lab", "brain", "main", {"b": b"2"})
    with platform.sessions.begin() as session:
        repo = repo_of(session)
        revert = repo.revert("main", bad.id, author="t")
        assert revert.metadata == {"reverts": bad.id}
        assert repo.stat("main", "a") == repo.stat(bad.parents[0], "a")
        assert repo.stat("main", "b") == repo.stat("main~1", "b")


def test_derived_dataset_shares_blobs_and_nodes(platform: Platform, dataset: str) -> None:
    commit_files(platform, "lab", "brain", "main", {"t1/a": b"a", "t1/b": b"b", "t2/c": b"c"})
    with platform.sessions.begin() as session:
        source = datasets.get(session, owner="lab", name="brain")
        nodes_before = session.query(NodeRow).count()
        full = datasets.derive(session, source=source, ref="main", owner="lab", name="copy", author="t")
        assert session.query(NodeRow).count() == nodes_before  # same tree, nothing written
        subset = datasets.derive(
            session, source=source, ref="main", owner="lab", name="t1-only", author="t", prefixes=["t1/"]
        )
        assert repo_of(session, "copy").resolve("main").tree == repo_of(session).resolve("main").tree
        assert repo_of(session, "copy").resolve("main").metadata["derived_from"] == "lab/brain"
        assert [e.path for e in repo_of(session, "t1-only").list_objects("main")] == ["t1/a", "t1/b"]
        assert repo_of(session, "t1-only").stat("main", "t1/a") == repo_of(session).stat("main", "t1/a")
        assert full.visibility == subset.visibility == source.visibility
