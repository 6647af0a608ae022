"""Change proposals: a request to merge one branch of a dataset into another.

Numbers are per dataset (``#1``, ``#2`` ...), so a proposal is named the way people
talk about it; the database id stays internal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from imagehub.models.base import Base, UTCDateTime, utcnow
from imagehub.models.dataset import Dataset

STATES = ("open", "merged", "closed")


class Proposal(Base):
    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("dataset_id", "number", name="uq_proposals_dataset_id_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    # The derived dataset (fork) that holds the source branch; None: this dataset.
    source_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), default=None)
    source_dataset: Mapped[Dataset | None] = relationship(foreign_keys=[source_dataset_id])
    source_branch: Mapped[str] = mapped_column(String(255))
    target_branch: Mapped[str] = mapped_column(String(255))
    author: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8), default="open")  # open | merged | closed
    reviewers: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of usernames
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    merged_commit: Mapped[str | None] = mapped_column(String(64))
    merged_by: Mapped[str | None] = mapped_column(String(64))
    closed_by: Mapped[str | None] = mapped_column(String(64))


def next_number(session: Session, dataset_id: int) -> int:
    """The number the dataset's next proposal gets (callers serialise on the dataset row)."""
    highest = session.scalar(select(func.max(Proposal.number)).where(Proposal.dataset_id == dataset_id))
    return (highest or 0) + 1


def by_number(session: Session, dataset_id: int, number: int) -> Proposal | None:
    return session.scalar(
        select(Proposal).where(Proposal.dataset_id == dataset_id, Proposal.number == number)
    )


def page(
    session: Session, dataset_id: int, *, states: tuple[str, ...], after: int, limit: int
) -> list[Proposal]:
    """Proposals in the given states, by number, strictly after ``after``."""
    query = (
        select(Proposal)
        .where(Proposal.dataset_id == dataset_id, Proposal.state.in_(states), Proposal.number > after)
        .order_by(Proposal.number)
        .limit(limit)
    )
    return list(session.scalars(query))
