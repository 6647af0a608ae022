"""A version can never hold a path as both a file and a folder, however large the commit."""

from __future__ import annotations

import pytest

from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import BlobId, ChangeSet, Entry, Repository
from imagehub.core.vcs import tree as tree_module
from imagehub.core.vcs.tree import Tree
from tests.support.memory_stores import repository_holding

BLOB = BlobId("ab" * 32)


@pytest.fixture
def repo() -> Repository:
    return repository_holding((BLOB, 1))


def puts(paths: list[str]) -> ChangeSet:
    changes = ChangeSet()
    for path in paths:
        changes.put(Entry(path, BLOB, 1))
    return changes


def put_all(repo: Repository, paths: list[str]) -> None:
    repo.commit("main", puts(paths), author="tester", message="m")


def test_a_bulk_load_cannot_put_a_file_where_a_folder_is(repo: Repository) -> None:
    put_all(repo, ["series/7/slice.dcm"])
    with pytest.raises(InvalidInput, match="'series/7' would be both a file and a folder"):
        put_all(repo, [f"series/{i}" for i in range(12_000)])  # more files than are looked up one by one
    assert repo.count("main") == 1


def test_a_bulk_load_into_new_folders_looks_into_the_head_once_per_folder(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_all(repo, [f"old/{i}.dcm" for i in range(100)])
    lookups = []
    iterate = Tree.iterate

    def counted(self: Tree, root: str, start: str = "", end: str | None = None):  # type: ignore[no-untyped-def]
        lookups.append(start)
        return iterate(self, root, start, end)  # type: ignore[arg-type]

    monkeypatch.setattr(Tree, "iterate", counted)
    put_all(repo, [f"new/series{i % 10}/{i}.dcm" for i in range(5_000)] + ["old/extra.dcm"])
    assert repo.count("main") == 5_101
    # "new" (empty in the head, so its series are not looked into) and "old/extra.dcm",
    # whose folder holds files.
    assert sorted(lookups) == ["new/", "old/", "old/extra.dcm/"]


@pytest.mark.parametrize("how", ["merge", "revert"])
def test_a_merge_or_revert_too_large_to_record_is_checked_too(
    repo: Repository, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(tree_module, "RECORDED_CHANGES", 5)  # as with 10,000 changes and more
    put_all(repo, ["keep.dcm"])
    repo.create_branch("feature", "main")
    if how == "merge":
        put_all(repo, ["x"])
        repo.commit("feature", puts(["x/y", *(f"many/{i}.dcm" for i in range(10))]), author="t", message="m")
        with pytest.raises(InvalidInput, match="'x' would be both a file and a folder"):
            repo.merge("feature", "main", author="t")
    else:
        put_all(repo, ["x/y", *(f"many/{i}.dcm" for i in range(10))])
        removing = ChangeSet().delete_prefix("many/").delete("x/y")
        removal = repo.commit("main", removing, author="t", message="m")
        put_all(repo, ["x"])
        with pytest.raises(InvalidInput, match="'x' would be both a file and a folder"):
            repo.revert("main", removal.id, author="t")
    assert repo.stat("main", "x").path == "x"  # the branch stayed where it was
