"""Resumable upload sessions: one per person and blob being uploaded, parts stored as objects."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow


class UploadSession(Base):
    __tablename__ = "upload_sessions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "blob", "size", "created_by", name="uq_upload_sessions_blob"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    blob: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    parts: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    touched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)  # the last chunk
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # kept to answer a repeated completion
