"""The audit table, its single-row head (which serialises appends), the single-row
checkpoint of how far the chain is verified, and legal holds.

On PostgreSQL a trigger refuses UPDATE and DELETE of events; the only deletion is the
retention purge, which must announce itself with a transaction-local setting.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_dataset", "dataset"),
        Index("ix_audit_events_actor", "actor"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(Text, default="")
    dataset: Mapped[str] = mapped_column(String(200), default="")
    ref: Mapped[str] = mapped_column(String(200), default="")
    commit: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last event's hash and the anchor the oldest kept event links to."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    anchor: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """One row: the newest event a check found linked back to the chain's start, so that a
    view walks only the events appended since; and the break a check found, which stays
    shown until a walk of the whole chain finds it intact again."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)  # 0: none
    hash: Mapped[str] = mapped_column(String(64), default="")
    whole_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    broken_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=None)
    broken_reason: Mapped[str] = mapped_column(Text, default="")


class LegalHold(Base):
    __tablename__ = "audit_legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset: Mapped[str] = mapped_column(String(200), default="")  # "" holds everything
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
