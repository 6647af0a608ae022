"""Uncommitted changes staged on a branch, as lakeFS clients expect them.

Our own clients send a whole change set with their commit. lakeFS clients upload and
delete objects one by one on a branch, then commit whatever has accumulated there; these
rows hold that accumulation. A row with no blob is a staged delete; its ``base`` is the
blob the branch's head held at the path when it was staged ("": none). Rows belong to the
branch's ref row, so they go when the branch does, and their blobs are garbage-collection
roots until committed or reset.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, delete, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.core.errors import NotFound
from imagehub.core.vcs import Entry
from imagehub.models.base import Base, UTCDateTime, utcnow
from imagehub.models.upsert import upsert
from imagehub.models.vcs import BATCH, RefRow


class StagedRow(Base):
    __tablename__ = "vcs_staged"

    ref_id: Mapped[int] = mapped_column(ForeignKey("vcs_refs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    blob: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    media_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    token: Mapped[str] = mapped_column(String(32))  # new on every write: a commit clears only what it read
    staged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    base: Mapped[str | None] = mapped_column(String(64), nullable=True)  # NULL: staged before bases were kept


@dataclass(frozen=True)
class Staged:
    """One staged path: an entry to write, or (``entry`` None) a delete, over ``base``: the
    blob the head held there when it was staged ("": none; None: not known)."""

    path: str
    entry: Entry | None
    token: str
    staged_at: datetime
    base: str | None


def ref_id(session: Session, repository_id: int, branch: str) -> int | None:
    return session.scalar(
        select(RefRow.id).where(
            RefRow.repository_id == repository_id, RefRow.kind == "branch", RefRow.name == branch
        )
    )


def lock_branch(session: Session, ref: int) -> None:
    """Hold the branch's row until the transaction ends, so reads made after it see every
    write that came before, and no write comes between.

    PostgreSQL locks the row alone (FOR UPDATE): gc's table locks must not queue behind a
    write to ``vcs_refs`` here while this transaction goes on to write ``vcs_commits``, the
    other order (a deadlock). SQLite has no row locks: an update that changes nothing takes
    its single write lock."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.scalar(select(RefRow.id).where(RefRow.id == ref).with_for_update())
    else:
        updated = session.execute(
            update(RefRow)
            .where(RefRow.id == ref)
            .values(id=RefRow.id)
            .execution_options(synchronize_session=False)
        )
        found = ref if updated.rowcount == 1 else None  # type: ignore[attr-defined]
    if found is None:
        raise NotFound("the branch was deleted while its changes were being staged")


def stage(session: Session, ref: int, path: str, entry: Entry | None, base: str) -> None:
    """Stage ``entry`` at ``path`` (None: a delete) over ``base``, replacing what was staged there."""
    row = {
        "ref_id": ref,
        "path": path,
        "blob": entry.blob if entry else None,
        "size": entry.size if entry else 0,
        "media_type": entry.media_type if entry else "application/octet-stream",
        "token": uuid.uuid4().hex,
        "staged_at": utcnow(),
        "base": base,
    }
    touch = ("blob", "size", "media_type", "token", "staged_at", "base")
    try:
        upsert(session, StagedRow.__table__, [row], touch=touch)
    except IntegrityError:  # the branch was deleted meanwhile (its row is gone)
        raise NotFound(f"the branch was deleted while {path!r} was being staged") from None


def unstage(session: Session, ref: int, path: str) -> None:
    """Drop whatever is staged at ``path``."""
    session.execute(
        delete(StagedRow)
        .where(StagedRow.ref_id == ref, StagedRow.path == path)
        .execution_options(synchronize_session=False)
    )


def staged(session: Session, ref: int, prefix: str = "") -> list[Staged]:
    """What is staged under ``prefix``, in path order (code points, as the manifests sort)."""
    query = select(StagedRow).where(StagedRow.ref_id == ref)
    if prefix:
        query = query.where(StagedRow.path.startswith(prefix, autoescape=True))
    rows = session.scalars(query).all()
    return sorted((_staged(row) for row in rows if row.path.startswith(prefix)), key=lambda s: s.path)


def staged_at(session: Session, ref: int, path: str) -> Staged | None:
    row = session.get(StagedRow, (ref, path))
    return _staged(row) if row else None


def staged_among(session: Session, ref: int, paths: Sequence[str]) -> dict[str, Staged]:
    """What is staged at each of ``paths`` that has something staged."""
    found: dict[str, Staged] = {}
    for start in range(0, len(paths), BATCH):
        query = select(StagedRow).where(
            StagedRow.ref_id == ref, StagedRow.path.in_(paths[start : start + BATCH])
        )
        found.update((row.path, _staged(row)) for row in session.scalars(query))
    return found


def clear(session: Session, ref: int, done: Iterable[Staged]) -> None:
    """Remove the rows of ``done`` that nobody re-staged since they were read."""
    keys = [(s.path, s.token) for s in done]
    row_key = tuple_(StagedRow.path, StagedRow.token)
    for start in range(0, len(keys), BATCH):
        session.execute(
            delete(StagedRow)
            .where(StagedRow.ref_id == ref, row_key.in_(keys[start : start + BATCH]))
            .execution_options(synchronize_session=False)
        )


def staged_blobs(session: Session) -> set[str]:
    """Every blob some branch has staged: garbage collection keeps them."""
    return set(session.scalars(select(StagedRow.blob).where(StagedRow.blob.is_not(None)).distinct()))


def _staged(row: StagedRow) -> Staged:
    entry = Entry(row.path, row.blob, row.size, row.media_type) if row.blob is not None else None
    return Staged(row.path, entry, row.token, row.staged_at, row.base)
