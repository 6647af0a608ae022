"""Folder pages over a flat manifest, and manifest sizes kept by tree id."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import Repository
from imagehub.models.stats import TreeStats
from imagehub.services import browse, datasets
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files

PATHS = ["a.txt", "b/1", "b/2", "c/d/e", "c/f", "z.txt", *(f"many/{i:04d}.dcm" for i in range(250))]


@pytest.fixture
def seeded(platform: Platform) -> Platform:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="tree", author="lab")
    commit_files(platform, "lab", "tree", "main", {p: p.encode() * 3 for p in PATHS})
    return platform


def _repo(session: Session) -> Repository:
    return datasets.repository(session, datasets.get(session, owner="lab", name="tree"))


def _all_pages(repo: Repository, path: str, limit: int) -> tuple[list[str], list[str], int]:
    folders: list[str] = []
    files: list[str] = []
    after, pages = "", 0
    while True:
        page = browse.list_folder(repo, "main", path, after=after, limit=limit)
        folders += page.folders
        files += [e.path for e in page.files]
        pages += 1
        if page.next_after is None:
            return folders, files, pages
        after = page.next_after


def test_root_lists_sub_folders_once_and_files_in_path_order(seeded: Platform) -> None:
    with seeded.sessions() as session:
        root = browse.list_folder(_repo(session), "main", "")
    assert root.folders == ["b", "c", "many"]
    assert [e.path for e in root.files] == ["a.txt", "z.txt"]
    assert root.next_after is None


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_small_pages_add_up_to_the_whole_folder(seeded: Platform, limit: int) -> None:
    with seeded.sessions() as session:
        folders, files, _ = _all_pages(_repo(session), "/", limit)
    assert (folders, files) == (["b", "c", "many"], ["a.txt", "z.txt"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_large_folder_is_paged_and_nested_folders_resolve(seeded: Platform) -> None:
    with seeded.sessions() as session:
        repo = _repo(session)
        folders, files, pages = _all_pages(repo, "many", 100)
        nested = browse.list_folder(repo, "main", "c/")
    assert folders == []
    assert pages == 3
    assert files == [p for p in PATHS if p.startswith("many/")]
    assert nested.folders == ["d"]
    assert [e.path for e in nested.files] == ["c/f"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("bad", ["../x", "a/../b", "a//b"])
def test_folder_paths_that_escape_or_are_malformed_are_refused(seeded: Platform, bad: str) -> None:
    with seeded.sessions() as session, pytest.raises(InvalidInput):
        browse.list_folder(_repo(session), "main", bad)


def test_breadcrumbs_name_each_level() -> None:
    assert browse.breadcrumbs("c/d/") == [("c", "c/"), ("d", "c/d/")]
    assert browse.breadcrumbs("") == []


def test_size_of_a_child_commit_comes_from_its_parent_and_equals_a_full_walk(seeded: Platform) -> None:
    with seeded.sessions.begin() as session:
        repo = _repo(session)
        first = browse.tree_size(session, repo, repo.resolve("main"))
    assert first == browse.Size(len(PATHS), sum(len(p) * 3 for p in PATHS))
    commit_files(seeded, "lab", "tree", "main", {"a.txt": None, "b/1": b"longer content", "new/file": b"xyz"})
    with seeded.sessions.begin() as session:
        repo = _repo(session)
        head = repo.resolve("main")
        incremental = browse.tree_size(session, repo, head)
        walked = [e.size for e in repo.tree.iterate(head.tree)]
        stored = session.scalars(select(TreeStats.tree)).all()
    assert incremental == browse.Size(len(walked), sum(walked))
    assert head.tree in stored
    assert len(stored) == 2
