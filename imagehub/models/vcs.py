"""Database tables of the versioning engine and the SQL stores the engine runs on.

Refs and commits are scoped to a repository (a dataset); tree nodes and blobs are
content-addressed and shared by every repository, which is what makes branches,
forks and curated subsets free. ``touched_at`` on nodes and blobs is what garbage
collection races against: a commit touches what it references in its own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    any_,
    bindparam,
    delete,
    false,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.core.errors import NotFound
from imagehub.core.vcs import BlobId, Commit, CommitId, NodeId, Ref, RefConflict, RefKind
from imagehub.core.vcs.maintenance import Reachable
from imagehub.core.vcs.nodes import CorruptObject
from imagehub.models.base import Base, UTCDateTime, utcnow
from imagehub.models.dataset import Dataset
from imagehub.models.upsert import upsert

BATCH = 500
PG_ID_BATCH = 50_000  # ids per PostgreSQL array parameter
T = TypeVar("T")


class RefRow(Base):
    __tablename__ = "vcs_refs"
    __table_args__ = (
        UniqueConstraint("repository_id", "kind", "name"),
        Index("uq_vcs_refs_one_name", "repository_id", "name", unique=True),  # branches and tags alike
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    commit_id: Mapped[str] = mapped_column(String(64))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommitRow(Base):
    __tablename__ = "vcs_commits"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tree: Mapped[str] = mapped_column(String(64))
    parents: Mapped[str] = mapped_column(Text)  # JSON list, in parent order
    author: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    meta: Mapped[str] = mapped_column("metadata", Text)  # JSON object
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    generation: Mapped[int] = mapped_column(Integer)


class NodeRow(Base):
    __tablename__ = "vcs_nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeltaRow(Base):
    """The changes from one tree to another, recorded by the edit that made the second."""

    __tablename__ = "vcs_deltas"

    from_tree: Mapped[str] = mapped_column(String(64), primary_key=True)
    to_tree: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class BlobRow(Base):
    __tablename__ = "vcs_blobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def batches(values: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _id_filters(session: Session, column: Any, ids: Iterable[str]) -> Iterator[ColumnElement[bool]]:
    """``column`` matches one batch of ``ids``, per batch.

    PostgreSQL takes a whole batch as one parameter: an ``IN`` list of thousands of
    placeholders costs more to build and parse than the lookup itself, and so does an
    array parameter (the driver quotes each element); the ids, hex digits all, travel
    as one comma-joined string that the server splits. SQLite keeps a plain ``IN``
    under its placeholder limit.
    """
    if session.get_bind().dialect.name != "postgresql":
        yield from (column.in_(batch) for batch in batches(ids))
        return
    for batch in batches(ids, PG_ID_BATCH):
        joined = bindparam("ids", ",".join(batch), type_=String)
        yield column == any_(func.string_to_array(joined, ","))


class SqlNodeStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        found: dict[NodeId, bytes] = {}
        for matches in _id_filters(self.session, NodeRow.id, ids):
            rows = self.session.execute(select(NodeRow.id, NodeRow.payload).where(matches))
            found.update((NodeId(i), bytes(p)) for i, p in rows)
        return found

    def put_many(self, nodes: Mapping[NodeId, bytes]) -> None:
        now = utcnow()
        rows = [{"id": k, "payload": v, "touched_at": now} for k, v in nodes.items()]
        upsert(self.session, NodeRow.__table__, rows, touch=["touched_at"])


class SqlDeltaStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, keys: Iterable[tuple[NodeId, NodeId]]) -> dict[tuple[NodeId, NodeId], bytes]:
        pairs = tuple_(DeltaRow.from_tree, DeltaRow.to_tree)
        found: dict[tuple[NodeId, NodeId], bytes] = {}
        for batch in batches(keys, BATCH // 2):  # two parameters a pair
            query = select(DeltaRow.from_tree, DeltaRow.to_tree, DeltaRow.payload).where(pairs.in_(batch))
            found.update(((NodeId(a), NodeId(b)), bytes(p)) for a, b, p in self.session.execute(query))
        return found

    def put_many(self, deltas: Mapping[tuple[NodeId, NodeId], bytes]) -> None:
        rows = [{"from_tree": a, "to_tree": b, "payload": p} for (a, b), p in deltas.items()]
        upsert(self.session, DeltaRow.__table__, rows, touch=[])


class SqlBlobIndex:
    def __init__(self, session: Session) -> None:
        self.session = session

    def register(self, blobs: Iterable[tuple[BlobId, int]]) -> None:
        now = utcnow()
        rows = [{"id": b, "size": s, "created_at": now, "touched_at": now} for b, s in dict(blobs).items()]
        # Every caller measured the bytes it stored, so the size is the truth, and it mends a
        # row recorded wrongly before commits checked sizes against it.
        upsert(self.session, BlobRow.__table__, rows, touch=["touched_at", "size"])

    def touch(self, blobs: Iterable[BlobId]) -> dict[BlobId, int]:
        """Refresh ``touched_at`` of these blobs; returns the size of each one recorded."""
        now = utcnow()
        sizes: dict[BlobId, int] = {}
        for matches in _id_filters(self.session, BlobRow.id, sorted(set(blobs))):
            locked = _lock_in_order(self.session, BlobRow.id, matches, BlobRow.size)
            touched = update(BlobRow).where(matches).values(touched_at=now)
            touched = touched.execution_options(synchronize_session=False)  # no ORM objects to keep in step
            if locked is None:
                locked = list(self.session.execute(touched.returning(BlobRow.id, BlobRow.size)).all())
            else:
                self.session.execute(touched)
            sizes.update((BlobId(i), size) for i, size in locked)
        return sizes

    def missing(self, blobs: Iterable[BlobId]) -> set[BlobId]:
        """Which of these blobs the server does not have (the have/want answer)."""
        wanted = set(blobs)
        return wanted - self.sizes(wanted).keys()

    def sizes(self, blobs: Iterable[BlobId]) -> dict[BlobId, int]:
        """The recorded size of each of these blobs the index has."""
        found: dict[BlobId, int] = {}
        for matches in _id_filters(self.session, BlobRow.id, set(blobs)):
            found.update(
                (BlobId(i), size)
                for i, size in self.session.execute(select(BlobRow.id, BlobRow.size).where(matches))
            )
        return found


def _commit_from_row(row: CommitRow) -> Commit:
    try:
        parents, metadata = json.loads(row.parents), json.loads(row.meta)
    except ValueError:
        raise CorruptObject(f"commit {row.id} is damaged: its parents or metadata are not JSON") from None
    return Commit(
        id=CommitId(row.id),
        tree=NodeId(row.tree),
        parents=tuple(CommitId(p) for p in parents),
        author=row.author,
        message=row.message,
        created_at=row.created_at,
        metadata=metadata,
        generation=row.generation,
    )


class SqlCommitStore:
    """Commits of one repository, or of all of them when ``repository_id`` is None."""

    def __init__(self, session: Session, repository_id: int | None) -> None:
        self.session = session
        self.repository_id = repository_id

    def _scoped(self, query: Any) -> Any:
        if self.repository_id is None:
            return query
        return query.where(CommitRow.repository_id == self.repository_id)

    def get_many(self, ids: Iterable[CommitId]) -> dict[CommitId, Commit]:
        found: dict[CommitId, Commit] = {}
        for matches in _id_filters(self.session, CommitRow.id, set(ids)):
            for row in self.session.scalars(self._scoped(select(CommitRow).where(matches))):
                found[CommitId(row.id)] = _commit_from_row(row)
        return found

    def add(self, commit: Commit) -> None:
        assert self.repository_id is not None, "commits are added to one repository"
        row = {
            "repository_id": self.repository_id,
            "id": commit.id,
            "tree": commit.tree,
            "parents": json.dumps(list(commit.parents)),
            "author": commit.author,
            "message": commit.message,
            "metadata": json.dumps(commit.metadata, sort_keys=True),
            "created_at": commit.created_at,
            "generation": commit.generation,
        }
        upsert(self.session, CommitRow.__table__, [row], touch=[])

    def hold(self, ids: Iterable[CommitId]) -> None:
        wanted = set(ids)
        found: set[str] = set()
        for matches in _id_filters(self.session, CommitRow.id, wanted):
            query = self._scoped(select(CommitRow.id).where(matches)).with_for_update(read=True)
            found.update(self.session.scalars(query))
        if gone := wanted - found:
            raise NotFound(f"commit {min(gone)} no longer exists: garbage collection removed it")

    def find_prefix(self, prefix: str, limit: int) -> list[CommitId]:
        upper = prefix + "g"  # past every hex digit
        query = select(CommitRow.id).where(CommitRow.id >= prefix, CommitRow.id < upper).limit(limit)
        return [CommitId(i) for i in self.session.scalars(self._scoped(query))]


def _ref_from_row(row: RefRow) -> Ref:
    return Ref(
        name=row.name,
        kind=RefKind(row.kind),
        commit=CommitId(row.commit_id),
        protected=row.protected,
        message=row.message,
        created_at=row.created_at,
    )


class SqlRefStore:
    def __init__(self, session: Session, repository_id: int) -> None:
        self.session = session
        self.repository_id = repository_id

    def _row(self, name: str, kind: RefKind) -> RefRow | None:
        return self.session.scalar(
            select(RefRow).where(
                RefRow.repository_id == self.repository_id, RefRow.kind == kind.value, RefRow.name == name
            )
        )

    def get(self, name: str, kind: RefKind) -> Ref | None:
        row = self._row(name, kind)
        return _ref_from_row(row) if row else None

    def list(self, kind: RefKind, *, prefix: str = "", after: str = "", limit: int = 100) -> list[Ref]:
        query = select(RefRow).where(RefRow.repository_id == self.repository_id, RefRow.kind == kind.value)
        if prefix:
            query = query.where(RefRow.name.startswith(prefix, autoescape=True))
        if after:
            query = query.where(RefRow.name > after)
        rows = self.session.scalars(query.order_by(RefRow.name).limit(limit))
        return [_ref_from_row(r) for r in rows]

    def create(self, ref: Ref) -> None:
        now = utcnow()
        row = RefRow(
            repository_id=self.repository_id,
            kind=ref.kind.value,
            name=ref.name,
            commit_id=ref.commit,
            protected=ref.protected,
            message=ref.message,
            created_at=ref.created_at or now,
            updated_at=now,
        )
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise RefConflict(ref.name) from None

    def compare_and_swap(self, name: str, expected: CommitId, new: CommitId) -> None:
        result = self.session.execute(
            update(RefRow)
            .where(
                RefRow.repository_id == self.repository_id,
                RefRow.kind == RefKind.BRANCH.value,
                RefRow.name == name,
                RefRow.commit_id == expected,
            )
            .values(commit_id=new, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise RefConflict(name)

    def set_protected(self, name: str, protected: bool) -> None:
        self.session.execute(
            update(RefRow)
            .where(RefRow.repository_id == self.repository_id, RefRow.kind == "branch", RefRow.name == name)
            .values(protected=protected, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    def delete(self, name: str, kind: RefKind) -> bool:
        result = self.session.execute(
            delete(RefRow)
            .where(RefRow.repository_id == self.repository_id, RefRow.kind == kind.value, RefRow.name == name)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def all_ref_commits(session: Session) -> set[CommitId]:
    """Every commit any branch or tag of any repository points at."""
    return {CommitId(c) for c in session.scalars(select(RefRow.commit_id))}


def ref_names(session: Session) -> dict[CommitId, str]:
    """Every commit a branch or tag points at, with one of them for messages: "owner/name branch main"."""
    rows = session.execute(
        select(RefRow.commit_id, Dataset.owner, Dataset.name, RefRow.kind, RefRow.name)
        .join(Dataset, Dataset.id == RefRow.repository_id)
        .order_by(RefRow.id)
    )
    return {CommitId(commit): f"{owner}/{name} {kind} {ref}" for commit, owner, name, kind, ref in rows}


def recent_blobs(session: Session, limit: int) -> list[BlobId]:
    """The blobs indexed last: a sample of what the site's store must hold."""
    query = select(BlobRow.id).order_by(BlobRow.created_at.desc(), BlobRow.id).limit(limit)
    return [BlobId(blob) for blob in session.scalars(query)]


def commits_since(session: Session, cutoff: datetime) -> set[CommitId]:
    return {CommitId(c) for c in session.scalars(select(CommitRow.id).where(CommitRow.created_at >= cutoff))}


def _lock_in_order(
    session: Session, column: Any, matches: ColumnElement[bool], *also: Any, skip_locked: bool = False
) -> list[Any] | None:
    """On PostgreSQL, lock the matching rows in id order and return their ids (rows of the id
    and the ``also`` columns, when given); on SQLite, which locks the whole database, do
    nothing and return None.

    Every writer of shared rows (commits refreshing blobs, uploads registering them, gc
    deleting them) takes their locks in id order, so writers wait for one another instead
    of one being aborted as a deadlock. Batches in id order are not enough by themselves:
    two writers cut the same rows at different batch boundaries, and PostgreSQL updates or
    deletes a batch in table order."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    locking = select(column, *also).where(matches).order_by(column).with_for_update(skip_locked=skip_locked)
    return list(session.execute(locking).all() if also else session.scalars(locking))


def _conditional_delete(session: Session, column: Any, stale: Any, ids: Iterable[str]) -> list[str]:
    """Delete rows among ``ids`` that are still stale at delete time; return those deleted.

    On PostgreSQL a row some writer holds (a commit refreshing a blob, say) is passed over
    rather than waited for: that writer may itself be waiting for gc (``hold_references``)."""
    deleted: list[str] = []
    table = column.table
    for matches in _id_filters(session, column, sorted(ids)):
        locked = _lock_in_order(session, column, matches, skip_locked=True)
        if locked is not None:
            if not locked:
                continue
            matches = column.in_(locked)
        result = session.execute(delete(table).where(matches, stale).returning(column))
        deleted.extend(result.scalars())
    return deleted


def hold_references(session: Session) -> None:
    """Until this transaction ends, no other may add a commit or create or move a ref, so
    what gc last marked as reachable stays true while it deletes. Writers wait; those that
    build on a commit gc removed meanwhile then find it gone (``SqlCommitStore.hold``)."""
    if session.get_bind().dialect.name == "postgresql":  # in the order a commit writes them
        session.execute(text("LOCK TABLE vcs_commits, vcs_refs IN SHARE ROW EXCLUSIVE MODE"))
    else:  # SQLite's one write lock, taken now rather than at the first delete
        session.execute(delete(RefRow).where(false()))


def _commit_candidates(session: Session, keep: set[CommitId], cutoff: datetime) -> list[str]:
    referenced = set(session.scalars(select(RefRow.commit_id)))
    created = session.scalars(select(CommitRow.id).where(CommitRow.created_at < cutoff))
    return [c for c in created if c not in keep and c not in referenced]


def _node_candidates(session: Session, keep: set[NodeId], cutoff: datetime) -> list[str]:
    touched = session.scalars(select(NodeRow.id).where(NodeRow.touched_at < cutoff))
    return [n for n in touched if n not in keep]


def _blob_candidates(session: Session, keep: set[BlobId], cutoff: datetime) -> dict[str, int]:
    rows = session.execute(select(BlobRow.id, BlobRow.size).where(BlobRow.touched_at < cutoff))
    return {b: size for b, size in rows if b not in keep}


def sweep_commits(session: Session, keep: set[CommitId], cutoff: datetime) -> int:
    """Delete unreachable commits older than ``cutoff`` that no ref points at."""
    stale = (CommitRow.created_at < cutoff) & CommitRow.id.not_in(select(RefRow.commit_id))
    return len(_conditional_delete(session, CommitRow.id, stale, _commit_candidates(session, keep, cutoff)))


def sweep_nodes(session: Session, keep: set[NodeId], cutoff: datetime) -> int:
    """Delete unreachable nodes not touched since ``cutoff``, and the deltas that name them."""
    candidates = _node_candidates(session, keep, cutoff)
    deleted = _conditional_delete(session, NodeRow.id, NodeRow.touched_at < cutoff, candidates)
    for batch in batches(deleted, BATCH // 2):  # two lists of it in one statement
        session.execute(
            delete(DeltaRow).where(or_(DeltaRow.from_tree.in_(batch), DeltaRow.to_tree.in_(batch)))
        )
    return len(deleted)


def sweep_blobs(session: Session, keep: set[BlobId], cutoff: datetime) -> list[BlobId]:
    """Forget unreachable blobs not touched since ``cutoff``; the caller deletes their bytes."""
    candidates = _blob_candidates(session, keep, cutoff)
    return [
        BlobId(b) for b in _conditional_delete(session, BlobRow.id, BlobRow.touched_at < cutoff, candidates)
    ]


@dataclass(frozen=True)
class SweepCounts:
    commits: int
    nodes: int
    blobs: int
    blob_bytes: int
    commit_ids: frozenset[str]  # which commits and blobs, for what is derived from them
    blob_ids: frozenset[str]


def sweep_candidates(session: Session, reachable: Reachable, cutoff: datetime) -> SweepCounts:
    """What the sweeps would delete now, by the same rules, deleting nothing (a dry run)."""
    blobs = _blob_candidates(session, reachable.blobs, cutoff)
    commits = _commit_candidates(session, reachable.commits, cutoff)
    return SweepCounts(
        commits=len(commits),
        nodes=len(_node_candidates(session, reachable.nodes, cutoff)),
        blobs=len(blobs),
        blob_bytes=sum(blobs.values()),
        commit_ids=frozenset(commits),
        blob_ids=frozenset(blobs),
    )
