"""A dataset's branches and tags share one namespace, even when both are created at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from imagehub.core.vcs import RefKind, Repository
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.support.platforms import migrated_platform
from tests.support.postgres import fresh_database
from tests.support.races import race

ROUNDS = 8


@pytest.fixture
def pg_platform(tmp_path: Path) -> Iterator[Platform]:
    with fresh_database("refnames") as url, migrated_platform(tmp_path, url) as platform:
        yield platform


def _repository(session: Session) -> Repository:
    return datasets.repository(session, datasets.get(session, owner="lab", name="scans"))


def test_a_branch_and_a_tag_created_at_once_cannot_share_a_name(pg_platform: Platform) -> None:
    with pg_platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="scans", author="tester")
    for round_number in range(ROUNDS):
        name = f"v{round_number}"
        results, errors = race(
            pg_platform,
            {
                "branch": lambda s, n=name: _repository(s).create_branch(n, "main"),
                "tag": lambda s, n=name: _repository(s).create_tag(n, "main"),
            },
        )
        assert len(results) == 1, (results, errors)
        assert len(errors) == 1
        assert "already exists" in errors[0]
        with pg_platform.sessions() as session:
            repo = _repository(session)
            kinds = [kind for kind in RefKind if repo.stores.refs.get(name, kind) is not None]
        assert len(kinds) == 1
