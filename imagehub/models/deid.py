"""De-identification runs, their reports, and (only where policy allows) sealed re-identification maps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow


class DeidRun(Base):
    __tablename__ = "deid_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    source_commit: Mapped[str] = mapped_column(String(64))
    output_commit: Mapped[str | None] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(32))
    report_key: Mapped[str] = mapped_column(String(200))  # JSON report in the derived store
    instances: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    needs_review: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReidMap(Base):
    """Output path → source path and original UIDs, sealed with a key derived from the site secret."""

    __tablename__ = "deid_reid_maps"

    run_id: Mapped[int] = mapped_column(ForeignKey("deid_runs.id", ondelete="CASCADE"), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
