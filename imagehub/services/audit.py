"""Recording, reading, verifying, exporting and purging the audit trail.

Appends serialise on the single ``audit_head`` row: updating it first takes the write
lock (a row lock on PostgreSQL, the database lock on SQLite), so two appends can never
link to the same predecessor.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from imagehub.core.audit import GENESIS, AuditRecord, ChainBreak, chain_hash, verify_chain
from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.models.audit import AuditCheckpoint, AuditEvent, AuditHead, LegalHold
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset

EXPORT_FIELDS = [f for f in AuditRecord.__dataclass_fields__]
# The address of the client whose request is being served (set by the API for each request).
CLIENT_IP: ContextVar[str] = ContextVar("imagehub_audit_client_ip", default="")


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object: str = "",
    dataset: str = "",
    ref: str = "",
    commit: str = "",
    ip: str = "",
    purpose: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction; ``ip`` defaults to the address
    of the request being served, if any (``CLIENT_IP``)."""
    _take_append_lock(session)
    head = _head(session)
    event = AuditEvent(
        id=None,
        at=utcnow(),
        actor=actor,
        action=action,
        object=object,
        dataset=dataset,
        ref=ref,
        commit=commit,
        ip=ip or CLIENT_IP.get(),
        purpose=purpose,
        details=json.dumps(details or {}, sort_keys=True),
        prev_hash=head.last_hash,
        hash="",
    )
    event.hash = chain_hash(_to_record(event).content())
    session.add(event)
    head.last_hash = event.hash
    session.flush()
    return event


def _take_append_lock(session: Session) -> None:
    """Serialise with every other append until the caller's transaction ends."""
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(id=1))


def _to_record(event: AuditEvent) -> AuditRecord:
    return AuditRecord(
        id=event.id or 0,
        at=event.at,
        actor=event.actor,
        action=event.action,
        object=event.object,
        dataset=event.dataset,
        ref=event.ref,
        commit=event.commit,
        ip=event.ip,
        purpose=event.purpose,
        details=json.loads(event.details),
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


class DamagedEvent(Conflict):
    """An event altered in the database so that it can no longer even be read (its time or
    details are not what ImageHub writes): a break in the trail, named by its id."""

    def __init__(self, event_id: int) -> None:
        super().__init__(
            f"audit event {event_id} was altered and can no longer be read: the trail is broken there"
        )
        self.event_id = event_id


_UNREADABLE = (ValueError, TypeError, OverflowError)  # an altered time or details column


def search(
    session: Session,
    *,
    actor: str = "",
    action: str = "",
    dataset: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = 0,
    before: int = 0,
    newest_first: bool = False,
    limit: int = 100,
) -> list[AuditRecord]:
    """Events oldest first (or newest first), filtered; ``after`` and ``before`` are
    keyset cursors: only events with a greater, or a smaller, id."""
    if not 0 < limit <= 10_000:
        raise InvalidInput("limit must be between 1 and 10000")
    query = select(AuditEvent).where(AuditEvent.id > after)
    if before:
        query = query.where(AuditEvent.id < before)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if dataset:
        query = query.where(AuditEvent.dataset == dataset)
    if since:
        query = query.where(AuditEvent.at >= _utc(since, "since"))
    if until:
        query = query.where(AuditEvent.at < _utc(until, "until"))
    query = query.order_by(AuditEvent.id.desc() if newest_first else AuditEvent.id).limit(limit)
    try:
        return [_to_record(e) for e in session.scalars(query)]
    except _UNREADABLE:
        for event_id in session.scalars(query.with_only_columns(AuditEvent.id)):
            try:
                _to_record(session.scalars(select(AuditEvent).where(AuditEvent.id == event_id)).one())
            except _UNREADABLE:
                raise DamagedEvent(event_id) from None
        raise


@dataclass(frozen=True)
class AuditFilter:
    """The filters of the admin page, the REST listing and every export: one parser, so an
    export holds exactly the events the page showed."""

    actor: str = ""
    action: str = ""  # a prefix: "object." matches every object action
    dataset: str = ""
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(
        cls, *, actor: str = "", action: str = "", dataset: str = "", since: str = "", until: str = ""
    ) -> AuditFilter:
        """From a query string or command line: blank means no filter; times are ISO 8601,
        UTC when they name no zone."""
        return cls(actor, action, dataset, _moment(since, "since"), _moment(until, "until"))

    def as_query(self) -> dict[str, str]:
        """The filters set, as text ``parse`` reads back (for links and the audit record)."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items() if v}


def _moment(text: str, name: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        return _utc(datetime.fromisoformat(text.strip()), name)
    except ValueError:
        raise InvalidInput(f"{name} {text!r} is not a time: use ISO 8601, e.g. 2026-12-07T13:00Z") from None


@dataclass(frozen=True)
class NewestFirst:
    """One page of events, newest first, with the keyset cursors of its neighbours: the
    ``before`` of the next older page and the ``after`` of the next newer one, or None."""

    events: list[AuditRecord]
    older: int | None
    newer: int | None


def newest_first(
    session: Session, *, before: int = 0, after: int = 0, limit: int = 200, **filters: Any
) -> NewestFirst:
    """The newest events older than ``before`` (or, given ``after``, the oldest ones newer
    than it: the page before), newest first; each page costs an index seek, not an offset."""
    if after:
        events = search(session, after=after, limit=limit, **filters)[::-1]
    else:
        events = search(session, before=before, newest_first=True, limit=limit, **filters)
    if not events:
        return NewestFirst([], None, None)
    older = search(session, before=events[-1].id, limit=1, newest_first=True, **filters)
    newer = search(session, after=events[0].id, limit=1, **filters)
    return NewestFirst(events, events[-1].id if older else None, events[0].id if newer else None)


def _utc(moment: datetime, name: str) -> datetime:
    """A time without a zone is UTC, as the trail keeps it; one a zone pushes past the
    calendar is refused."""
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name} {moment.isoformat()} is outside the calendar in UTC") from None


def _all(
    session: Session, *, after: int = 0, where: AuditFilter = AuditFilter(), batch: int = 5000
) -> Iterator[AuditRecord]:
    """The events after ``after`` that ``where`` matches, oldest first, a batch at a time."""
    while page := search(session, after=after, limit=batch, **asdict(where)):
        yield from page
        after = page[-1].id


def _events_between(session: Session, after: int, event_id: int, batch: int = 5000) -> Iterator[AuditRecord]:
    """The events after ``after`` and older than ``event_id``, oldest first: all readable
    when ``event_id`` is the first that is not."""
    older = select(func.count()).where(AuditEvent.id < event_id)
    while left := session.scalar(older.where(AuditEvent.id > after)):
        page = search(session, after=after, limit=min(left, batch))
        yield from page
        after = page[-1].id


@dataclass
class _Walk:
    """How far a walk of the chain got: the newest event it found linked (id and hash),
    how many it checked, and the first break, if any."""

    after: int
    hash: str
    count: int = 0
    problem: ChainBreak | None = None

    def track(self, records: Iterator[AuditRecord]) -> Iterator[AuditRecord]:
        for rec in records:
            yield rec  # checked by verify_chain before it asks for the next one
            self.after, self.hash, self.count = rec.id, rec.hash, self.count + 1


def _walk(session: Session, *, after: int, anchor: str) -> _Walk:
    """Check that the events after ``after`` link from ``anchor`` through the one whose hash
    the head holds. The head is read after the events, and the walk goes on while appends
    made meanwhile move it, so a concurrent append is never taken for a cut."""
    walk = _Walk(after, anchor)
    while walk.problem is None:
        start, start_hash = walk.after, walk.hash
        try:
            walk.problem = verify_chain(walk.track(_all(session, after=start)), anchor=start_hash)
        except DamagedEvent as damaged:  # the first unreadable event; a break may come before it
            before = verify_chain(_events_between(session, start, damaged.event_id), anchor=start_hash)
            walk.problem = before or ChainBreak(
                damaged.event_id, "the event was altered: it can no longer be read"
            )
        if walk.problem is None and _head(session).last_hash == walk.hash:
            break
        if walk.problem is None and session.scalar(select(func.max(AuditEvent.id))) in (None, walk.after):
            walk.problem = ChainBreak(walk.after, "the newest events were removed (head hash differs)")
    return walk


def _head(session: Session) -> AuditHead:
    """The head as committed now, not as this session first read it."""
    head = session.get(AuditHead, 1, populate_existing=True)
    assert head is not None, "audit_head is created by migration 0003"
    return head


def _walk_whole(session: Session) -> _Walk:
    """Walk the chain from its anchor: the genesis value, or one a retention purge recorded."""
    anchor = _head(session).anchor
    walk = _walk(session, after=0, anchor=anchor)
    if walk.problem is None and anchor != GENESIS and anchor not in _purge_anchors(session):
        first = session.scalar(select(func.min(AuditEvent.id))) or 0
        walk.problem = ChainBreak(first, "the oldest events were removed, but no retention purge says so")
    return walk


def verify(session: Session) -> ChainBreak | None:
    """The first broken link of the whole trail, or None."""
    return _walk_whole(session).problem


@dataclass(frozen=True)
class ChainState:
    """What the admin views show of the chain."""

    problem: ChainBreak | None
    through: int  # the newest event found linked back to the chain's start (0: none yet)
    checked: int  # how many events this answer walked
    whole: bool  # whether this answer walked the whole chain
    whole_at: datetime | None  # when a walk of the whole chain last found it intact


def check(session: Session, *, whole: bool = False) -> ChainState:
    """The chain's state, walking only the events appended since the recorded checkpoint
    (the whole chain with ``whole``, or when the checkpoint's event is gone or changed),
    and recording the result in the caller's transaction.

    A break found stays the answer until a whole walk finds the chain intact again. An
    event older than the checkpoint altered after it was checked is found only by a whole
    walk (``imagehub audit verify``, or the page's "verify the whole chain").
    """
    point = session.get(AuditCheckpoint, 1, populate_existing=True)
    assert point is not None, "audit_checkpoint is created by migration 0025"
    if point.broken_id is not None and not whole:
        return ChainState(
            ChainBreak(point.broken_id, point.broken_reason), point.event_id, 0, False, point.whole_at
        )
    resume = None if whole else _resume_point(session, point)
    walk = _walk_whole(session) if resume is None else _walk(session, after=resume, anchor=point.hash)
    whole_at = _record_check(session, walk, whole=resume is None) or point.whole_at
    through = point.event_id if walk.problem else walk.after
    return ChainState(walk.problem, through, walk.count, resume is None, whole_at)


def _resume_point(session: Session, point: AuditCheckpoint) -> int | None:
    """The checkpoint's event id, while that event is still there with the hash it was
    checked with and still hashing to it; otherwise None (never checked, purged since, or
    altered)."""
    event = session.get(AuditEvent, point.event_id) if point.event_id else None
    if event is None or event.hash != point.hash:
        return None
    try:
        intact = chain_hash(_to_record(event).content()) == event.hash
    except _UNREADABLE:
        intact = False
    return point.event_id if intact else None


def _record_check(session: Session, walk: _Walk, *, whole: bool) -> datetime | None:
    """Keep a walk's outcome: a break until a whole walk clears it, else the new checkpoint
    (never moved back by a slower concurrent check). The time of an intact whole walk."""
    row = update(AuditCheckpoint).where(AuditCheckpoint.id == 1)
    if walk.problem is not None:
        broken = row if whole else row.where(AuditCheckpoint.broken_id.is_(None))
        reason = walk.problem.reason
        session.execute(broken.values(broken_id=walk.problem.event_id, broken_reason=reason))
        return None
    if not whole:
        fresh = row.where(AuditCheckpoint.broken_id.is_(None), AuditCheckpoint.event_id < walk.after)
        session.execute(fresh.values(event_id=walk.after, hash=walk.hash))
        return None
    now = utcnow()
    session.execute(
        row.values(event_id=walk.after, hash=walk.hash, whole_at=now, broken_id=None, broken_reason="")
    )
    return now


def _purge_anchors(session: Session) -> set[str]:
    """The anchors retention purges recorded: the only ways the chain may start later."""
    anchors = set()
    for details in session.scalars(select(AuditEvent.details).where(AuditEvent.action == "audit.purge")):
        try:
            anchors.add(str(json.loads(details).get("anchor", "")))
        except (ValueError, AttributeError):  # altered: vouches for nothing
            continue
    return anchors


EXPORT_FORMATS = ("csv", "json")


def export(session: Session, fmt: str, where: AuditFilter = AuditFilter()) -> Iterator[str]:
    """The events ``where`` matches (the whole trail by default) as CSV or JSON lines,
    streamed. Each keeps its hashes: it still hashes to its own ``hash``, though links to
    events a filter left out cannot be followed in the file."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be {' or '.join(EXPORT_FORMATS)}")
    for index, rec in enumerate(_all(session, where=where)):
        row = asdict(rec)
        row["at"] = rec.at.isoformat()
        if fmt == "json":
            yield json.dumps(row, sort_keys=True) + "\n"
            continue
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
        if index == 0:
            writer.writeheader()
        row["details"] = json.dumps(row["details"], sort_keys=True)
        writer.writerow({key: _cell(value) for key, value in row.items()})
        yield buffer.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet reads as text: the trail holds what callers typed (a failed
    sign-in's username), which must not run as a formula. JSON lines stay exact."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def add_legal_hold(session: Session, *, actor: str, reason: str, dataset: str = "") -> LegalHold:
    """Hold the events of one dataset (live or deleted), or with no dataset, all of them."""
    if not reason.strip():
        raise InvalidInput("a legal hold needs a reason: the matter or request it serves")
    owner, _, name = dataset.partition("/")
    named = select(Dataset.id).where(Dataset.owner == owner, Dataset.name == name).limit(1)
    if dataset and session.scalar(named) is None:
        raise NotFound(f"no dataset {dataset!r}, live or deleted, to hold the events of")
    hold = LegalHold(dataset=dataset, reason=reason, created_by=actor)
    session.add(hold)
    session.flush()
    record(
        session,
        actor=actor,
        action="audit.legal_hold.add",
        object=f"hold:{hold.id}",
        dataset=dataset,
        details={"reason": reason},
    )
    return hold


def active_holds(session: Session) -> list[LegalHold]:
    """The legal holds in force, oldest first."""
    return list(
        session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.id))
    )


def release_legal_hold(session: Session, *, actor: str, hold_id: int) -> None:
    hold = session.get(LegalHold, hold_id)
    if hold is None or hold.released_at is not None:
        raise NotFound(f"no active legal hold {hold_id}")
    hold.released_at = utcnow()
    record(
        session,
        actor=actor,
        action="audit.legal_hold.release",
        object=f"hold:{hold_id}",
        dataset=hold.dataset,
    )


MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 1, 36_500  # a day, a century


def purge(session: Session, *, actor: str, retention_days: int) -> int:
    """Delete events older than the retention period, oldest first, stopping at the
    first one a legal hold covers, so what remains is still one unbroken chain."""
    if not MIN_RETENTION_DAYS <= retention_days <= MAX_RETENTION_DAYS:
        raise InvalidInput(
            f"the retention period must be {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days,"
            f" not {retention_days}"
        )
    cutoff = utcnow() - timedelta(days=retention_days)
    _take_append_lock(session)  # first: a hold placed meanwhile is either seen here or recorded after
    holds = active_holds(session)
    if everything := next((h for h in holds if h.dataset == ""), None):
        raise Conflict(
            f"legal hold {everything.id} ({everything.reason}) holds every event: nothing was purged"
        )
    held = {h.dataset: h.id for h in holds}
    doomed: list[AuditRecord] = []
    stopped_by = None
    for rec in _all(session):
        if rec.at >= cutoff:
            break
        if rec.dataset in held:
            stopped_by = held[rec.dataset]
            break
        doomed.append(rec)
    if not doomed:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL imagehub.audit_purge = 'on'"))
    session.execute(delete(AuditEvent).where(AuditEvent.id <= doomed[-1].id))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL imagehub.audit_purge = 'off'"))
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(anchor=doomed[-1].hash))
    record(
        session,
        actor=actor,
        action="audit.purge",
        details={
            "deleted": len(doomed),
            "through_id": doomed[-1].id,
            "anchor": doomed[-1].hash,
            "retention_days": retention_days,
            "stopped_at_hold": stopped_by,  # the legal hold whose events come next, if any
        },
    )
    return len(doomed)
