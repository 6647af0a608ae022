"""A commit id always names that commit: no branch or tag may look like one, and a whole id
is read as a commit even over a name a database kept from before that rule."""

from __future__ import annotations

import pytest

from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import BlobId, ChangeSet, Entry, Ref, RefKind, Repository
from tests.support.memory_stores import repository_holding

BLOB = BlobId("cd" * 32)


@pytest.fixture
def repo() -> Repository:
    return repository_holding((BLOB, 1))


@pytest.mark.parametrize("name", ["ad75ab03", "2024120", "a" * 64])
def test_names_that_read_as_commit_ids_are_refused(repo: Repository, name: str) -> None:
    with pytest.raises(InvalidInput, match="reads as a commit id"):
        repo.create_branch(name, "main")
    with pytest.raises(InvalidInput, match="reads as a commit id"):
        repo.create_tag(name, "main")
    repo.create_branch("run-" + name, "main")  # with a letter past f it is a name again


def test_a_whole_commit_id_is_that_commit_over_a_legacy_name(repo: Repository) -> None:
    first = repo.resolve("main").id
    changes = ChangeSet()
    changes.put(Entry("a.dcm", BLOB, 1))
    second = repo.commit("main", changes, author="tester", message="m").id
    repo.stores.refs.create(Ref(first, RefKind.BRANCH, second))  # named before names were checked
    assert repo.resolve(first).id == first
