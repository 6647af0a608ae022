"""Racing writers over PostgreSQL: one wins, the others are told, nothing is lost or doubled."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal
from imagehub.core.errors import Conflict
from imagehub.core.vcs import BranchMoved
from imagehub.services import access, accounts, datasets, webhooks
from imagehub.services.platform import Platform
from tests.support.accounts import make_user
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


@pytest.fixture(params=["sqlite", "postgresql"])
def each_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    """The embedded default too: SQLite ignores FOR UPDATE, so a lock must be taken otherwise."""
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_platform")
        return
    with migrated_platform(tmp_path) as platform:
        with platform.sessions.begin() as session:
            datasets.create(session, owner="lab", name="race", author="t")
        yield platform


def test_concurrent_commits_from_one_head_never_overwrite_each_other(pg_platform: Platform) -> None:
    wins: list[str] = []
    losses: list[str] = []
    lock = threading.Lock()

    def writer(index: int, round_no: int, barrier: threading.Barrier) -> None:
        with pg_platform.sessions() as session:
            session.begin()
            repo = datasets.repository(session, datasets.get(session, owner="lab", name="race"))
            head = repo.resolve("main").id  # both writers read the same head ...
            barrier.wait()  # ... then race to move it from there
            files = {f"w{index}/r{round_no}": b"%d" % index}
            try:
                commit = commit_in(session, pg_platform, "lab", "race", "main", files, "w", head)
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


def test_concurrent_commits_that_name_no_parent_all_land(pg_platform: Platform) -> None:
    """A writer that did not say which head it built on accepts any: losing the race to
    move the branch, its change is applied again on the new head."""
    barrier = threading.Barrier(WRITERS)
    landed: list[str] = []

    def writer(index: int) -> None:
        with pg_platform.sessions() as session:
            session.begin()
            datasets.repository(session, datasets.get(session, owner="lab", name="race")).resolve("main")
            barrier.wait()
            commit_in(session, pg_platform, "lab", "race", "main", {f"w{index}": b"%d" % index}, "w")
            session.commit()
            landed.append(f"w{index}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(landed) == WRITERS
    with pg_platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="race"))
        assert len(list(repo.log("main", limit=100))) == WRITERS + 1
        assert {e.path for e in repo.list_objects("main")} == set(landed)


def _race(platform: Platform, attempts: int, attempt: Callable[[Session], object]) -> list[str]:
    """Run ``attempt`` in ``attempts`` transactions that all reach it at once; what each
    ended with: ``"ok"`` or the error's class name."""
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        with platform.sessions() as session:
            session.begin()
            datasets.get(session, owner="lab", name="race")  # every transaction has read ...
            barrier.wait()  # ... before any of them writes
            try:
                attempt(session)
                session.commit()
                outcome = "ok"
            except (Conflict, BranchMoved) as exc:
                session.rollback()
                outcome = type(exc).__name__
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_racing_access_requests_leave_one_waiting(each_platform: Platform) -> None:
    make_user(each_platform, "ann")
    with each_platform.sessions.begin() as session:
        user = accounts.get_user(session, "ann")
        principal = Principal(user_id=user.id, username="ann")

    def ask(session: Session) -> object:
        dataset = datasets.get(session, owner="lab", name="race")
        return access.request_access(
            session, dataset=dataset, principal=principal, role="read", purpose="study", accepted_agreement=""
        )

    assert _race(each_platform, 3, ask) == ["Conflict", "Conflict", "ok"]
    with each_platform.sessions() as session:
        assert len(access.list_requests(session, datasets.get(session, owner="lab", name="race"))) == 1


def test_racing_webhooks_stop_at_the_limit(each_platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "MAX_HOOKS", 2)

    def add(session: Session) -> object:
        dataset = datasets.get(session, owner="lab", name="race")
        return webhooks.create_hook(
            session,
            dataset,
            actor="t",
            url="http://127.0.0.1:9/hook",
            events=["push"],
            allow_private_networks=True,
        )

    assert _race(each_platform, 4, add) == ["Conflict", "Conflict", "ok", "ok"]
