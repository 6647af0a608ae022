"""Check results: what the pipeline (or an outside CI) found about one dataset commit.

One row per (dataset, commit, check name); a re-run replaces the result. Merges and
release tags consult these rows: a missing result counts as pending, and pending blocks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow

STATUSES = ("pending", "success", "failure")


class CheckResult(Base):
    __tablename__ = "check_results"
    __table_args__ = (
        UniqueConstraint(
            "dataset_id", "commit_id", "name", name="uq_check_results_dataset_id_commit_id_name"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    commit_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON report
    details_url: Mapped[str] = mapped_column(Text, default="")  # e.g. the Dagster run
    reported_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def for_commit(session: Session, dataset_id: int, commit_id: str) -> list[CheckResult]:
    query = (
        select(CheckResult)
        .where(CheckResult.dataset_id == dataset_id, CheckResult.commit_id == commit_id)
        .order_by(CheckResult.name)
    )
    return list(session.scalars(query))


def one(session: Session, dataset_id: int, commit_id: str, name: str) -> CheckResult | None:
    return session.scalar(
        select(CheckResult).where(
            CheckResult.dataset_id == dataset_id, CheckResult.commit_id == commit_id, CheckResult.name == name
        )
    )
