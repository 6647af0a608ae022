"""Two writers on one branch over PostgreSQL: one wins, the other is told, nothing is lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagehub.core.vcs import BranchMoved
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.support.datasets import commit_in
from tests.support.platforms import migrated_platform
from tests.support.postgres import fresh_database

WRITERS = 4
ROUNDS = 6


@pytest.fixture
def pg_platform(tmp_path: Path) -> Iterator[Platform]:
    with fresh_database("cc") as url, migrated_platform(tmp_path, url) as platform:
        with platform.sessions.begin() as session:
            datasets.create(session, owner="lab", name="race", author="t")
        yield platform


def test_concurrent_commits_never_overwrite_each_other(pg_platform: Platform) -> None:
    wins: list[str] = []
    losses: list[str] = []
    lock = threading.Lock()

    def writer(index: int, round_no: int, barrier: threading.Barrier) -> None:
        with pg_platform.sessions() as session:
            session.begin()
            repo = datasets.repository(session, datasets.get(session, owner="lab", name="race"))
            repo.resolve("main")  # both writers read the same head ...
            barrier.wait()  # ... then race to move it
            try:
                commit = commit_in(
                    session, pg_platform, "lab", "race", "main", {f"w{index}/r{round_no}": b"%d" % index}, "w"
                )
                session.commit()
                with lock:
                    wins.append(commit.id)
            except BranchMoved:
                session.rollback()
                with lock:
                    losses.append(f"w{index}/r{round_no}")

    for round_no in range(ROUNDS):
        barrier = threading.Barrier(WRITERS)
        threads = [threading.Thread(target=writer, args=(i, round_no, barrier)) for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert len(wins) + len(losses) == WRITERS * ROUNDS
    assert len(wins) >= ROUNDS  # at least one writer wins each round
    assert losses, "with a barrier, some writers must collide"
    with pg_platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="race"))
        history = [c.id for c in repo.log("main", limit=1000)]
        paths = {e.path for e in repo.list_objects("main")}
    assert set(wins) <= set(history)  # every acknowledged commit is in the history
    assert len(history) == len(wins) + 1  # and nothing else (plus the initial commit)
    assert not paths & set(losses)  # a refused write left no trace
