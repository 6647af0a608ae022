"""``main@``, lakeFS's committed state of a branch: the head, and no other modifier."""

from __future__ import annotations

import pytest

from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.vcs import BlobId, Repository
from tests.support.memory_stores import repository_holding


@pytest.fixture
def repo() -> Repository:
    return repository_holding((BlobId("cd" * 32), 1))


def test_a_branch_with_at_is_its_head(repo: Repository) -> None:
    assert repo.resolve("main@") == repo.resolve("main")


@pytest.mark.parametrize("expression", ["v1@", "head@", "main@~1", "main@^1", "main~1@"])
def test_at_follows_a_branch_name_alone(repo: Repository, expression: str) -> None:
    repo.create_tag("v1", "main")
    expression = expression.replace("head", repo.resolve("main").id[:12])
    with pytest.raises(InvalidInput):
        repo.resolve(expression)


def test_at_after_a_name_nothing_bears_is_not_found(repo: Repository) -> None:
    with pytest.raises(NotFound):
        repo.resolve("nosuch@")
