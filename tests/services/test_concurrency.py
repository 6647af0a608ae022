"""Racing writers over PostgreSQL: one wins, the others are told, nothing is lost or doubled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal
from imagehub.core.errors import Conflict
from imagehub.core.vcs import BranchMoved
from imagehub.core.vcs.types import Commit
from imagehub.models import vcs as vcs_models
from imagehub.services import access, accounts, datasets, maintenance, proposals, webhooks
from imagehub.services.platform import Platform
from imagehub.services.staging import Workspace
from tests.support.accounts import make_user
from tests.support.datasets import commit_files, commit_in
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


def test_racing_decisions_on_one_access_request_leave_one(each_platform: Platform) -> None:
    make_user(each_platform, "ann")
    with each_platform.sessions.begin() as session:
        user = accounts.get_user(session, "ann")
        dataset = datasets.get(session, owner="lab", name="race")
        principal = Principal(user_id=user.id, username="ann")
        asked = access.request_access(
            session,
            dataset=dataset,
            principal=principal,
            role="write",
            purpose="study",
            accepted_agreement="",
        )
        request_id = asked.id
    verdicts = iter([True, False])

    def decide(session: Session) -> object:
        dataset = datasets.get(session, owner="lab", name="race")
        approve = next(verdicts)
        return access.decide_request(
            session, dataset=dataset, request_id=request_id, approve=approve, actor="t"
        )

    assert _race(each_platform, 2, decide) == ["Conflict", "ok"]
    with each_platform.sessions() as session:
        dataset = datasets.get(session, owner="lab", name="race")
        (decided,) = access.list_requests(session, dataset, status="")
        granted = [g["user"] for g in access.list_grants(session, dataset)]
    assert (decided.status == "approved") == (granted == ["ann"])


def test_racing_proposals_of_one_change_open_one(each_platform: Platform) -> None:
    commit_files(each_platform, "lab", "race", "main", {"a.dcm": b"1"})
    with each_platform.sessions.begin() as session:
        datasets.repository(session, datasets.get(session, owner="lab", name="race")).create_branch(
            "qc", "main"
        )
    commit_files(each_platform, "lab", "race", "qc", {"b.dcm": b"2"})

    def propose(session: Session) -> object:
        dataset = datasets.get(session, owner="lab", name="race")
        repo = datasets.repository(session, dataset)
        return proposals.create(session, dataset, repo, actor="t", source="qc", target="main", title="qc")

    assert _race(each_platform, 3, propose) == ["Conflict", "Conflict", "ok"]


def test_gc_waits_for_a_commit_in_flight_without_a_deadlock(pg_platform: Platform) -> None:
    """A commit writes its commit row, then moves its branch: gc takes the two tables in
    the same order, so it waits behind the commit instead of deadlocking with it."""
    failures: list[BaseException] = []

    def gc() -> None:
        try:
            maintenance.collect_garbage(pg_platform, grace=timedelta(0))
        except BaseException as exc:  # the test reports what gc died of
            failures.append(exc)

    sweeping = threading.Thread(target=gc)
    with pg_platform.engine.connect() as writer:
        writer.execute(text("LOCK TABLE vcs_commits IN ROW EXCLUSIVE MODE"))  # a commit row written
        sweeping.start()
        _wait_for_lock_wait(pg_platform, "LOCK TABLE vcs_%")
        time.sleep(1.5)  # past PostgreSQL's deadlock check
        writer.execute(text("LOCK TABLE vcs_refs IN ROW EXCLUSIVE MODE"))  # then its branch moved
        writer.rollback()
    sweeping.join(timeout=60)
    assert failures == []


def test_racing_merges_into_one_branch_all_land(each_platform: Platform) -> None:
    """A merge names no head to merge into: one that loses the race merges into the new head."""
    commit_files(each_platform, "lab", "race", "main", {"a.dcm": b"1"})
    with each_platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="race"))
        for index in range(3):
            repo.create_branch(f"fix{index}", "main")
    for index in range(3):
        commit_files(each_platform, "lab", "race", f"fix{index}", {f"fix{index}.dcm": b"%d" % index})
    branches = iter(f"fix{index}" for index in range(3))

    def merge(session: Session) -> object:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="race"))
        return repo.merge(next(branches), "main", author="t")

    assert _race(each_platform, 3, merge) == ["ok", "ok", "ok"]
    with each_platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="race"))
        assert {e.path for e in repo.list_objects("main")} == {"a.dcm", "fix0.dcm", "fix1.dcm", "fix2.dcm"}


def test_gc_waits_for_a_lakefs_commit_in_flight_without_a_deadlock(
    pg_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lakeFS commit locks its branch before it writes its commit row: that lock must not
    hold ``vcs_refs`` against gc, which holds ``vcs_commits`` by then (a deadlock)."""
    commit_files(pg_platform, "lab", "race", "main", {"a.dcm": b"1"})
    with pg_platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="race")
        Workspace(session, dataset, datasets.repository(session, dataset)).upload(
            pg_platform, "main", "b.dcm", b"staged"
        )
    reached, go = threading.Event(), threading.Event()
    real_add = vcs_models.SqlCommitStore.add

    def add_when_told(store: vcs_models.SqlCommitStore, commit: Commit) -> None:
        if threading.current_thread().name == "lakefs":  # branch locked, commit row not yet written
            reached.set()
            go.wait(30)
        real_add(store, commit)

    monkeypatch.setattr(vcs_models.SqlCommitStore, "add", add_when_told)
    failures: list[BaseException] = []

    def run(work: Callable[[], object]) -> Callable[[], None]:
        def guarded() -> None:
            try:
                work()
            except BaseException as exc:  # the test reports what each died of
                failures.append(exc)

        return guarded

    def lakefs_commit() -> None:
        with pg_platform.sessions.begin() as session:
            dataset = datasets.get(session, owner="lab", name="race")
            workspace = Workspace(session, dataset, datasets.repository(session, dataset))
            workspace.commit("main", author="t", message="staged", metadata={}, allow_empty=False)

    committing = threading.Thread(target=run(lakefs_commit), name="lakefs")
    sweeping = threading.Thread(
        target=run(lambda: maintenance.collect_garbage(pg_platform, grace=timedelta(0)))
    )
    committing.start()
    assert reached.wait(30)
    sweeping.start()
    _wait_for_lock_wait(pg_platform, "LOCK TABLE vcs_%")
    go.set()
    committing.join(60)
    sweeping.join(60)
    assert failures == []
    with pg_platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="race"))
        assert {e.path for e in repo.list_objects("main")} == {"a.dcm", "b.dcm"}


def _wait_for_lock_wait(platform: Platform, query: str) -> None:
    """Until a statement like ``query`` waits for a lock (or 30 s pass)."""
    waiting = text(
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE :query"
    )
    with platform.engine.connect() as monitor:
        for _ in range(600):
            if monitor.execute(waiting, {"query": query}).first():
                return
            monitor.rollback()
            time.sleep(0.05)
