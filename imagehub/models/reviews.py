"""Reviews of change proposals, their comments, and the rules a protected branch sets.

A review is a verdict on the source branch's head commit at the time; a newer head makes
the earlier approvals stale (data changed after it was looked at). A comment may be on the
proposal, on one file, or pinned to a point of an image: series, slice, x and y in pixels.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow

VERDICTS = ("approve", "request_changes", "comment")


class Review(Base):
    __tablename__ = "proposal_reviews"
    __table_args__ = (Index("ix_proposal_reviews_proposal_id", "proposal_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    reviewer: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))  # approve | request_changes | comment
    body: Mapped[str] = mapped_column(Text, default="")
    commit_id: Mapped[str] = mapped_column(String(64))  # the source head that was reviewed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewComment(Base):
    __tablename__ = "proposal_comments"
    __table_args__ = (Index("ix_proposal_comments_proposal_id", "proposal_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    review_id: Mapped[int | None] = mapped_column(ForeignKey("proposal_reviews.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    commit_id: Mapped[str] = mapped_column(String(64))  # the source head it was written against
    path: Mapped[str | None] = mapped_column(Text)  # a file comment
    series_key: Mapped[str | None] = mapped_column(String(128))  # an image-location comment ...
    slice_index: Mapped[int | None] = mapped_column(Integer)  # ... 0-based position in the series
    x: Mapped[float | None] = mapped_column(Float)  # ... column, in pixels
    y: Mapped[float | None] = mapped_column(Float)  # ... row, in pixels
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BranchRule(Base):
    """What merging into a protected branch takes beyond the protection itself."""

    __tablename__ = "branch_rules"
    __table_args__ = (UniqueConstraint("dataset_id", "branch", name="uq_branch_rules_dataset_id_branch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    branch: Mapped[str] = mapped_column(String(255))
    required_approvals: Mapped[int] = mapped_column(Integer, default=0)
    required_checks: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of check names


def reviews_of(session: Session, proposal_id: int) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.proposal_id == proposal_id).order_by(Review.id)))


def comments_of(
    session: Session, proposal_id: int, *, after: int = 0, limit: int = 500
) -> list[ReviewComment]:
    query = (
        select(ReviewComment)
        .where(ReviewComment.proposal_id == proposal_id, ReviewComment.id > after)
        .order_by(ReviewComment.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def pinned_in_series(session: Session, proposal_id: int, series_key: str) -> list[ReviewComment]:
    """Comments pinned to points of one series: the markers its viewer shows."""
    query = (
        select(ReviewComment)
        .where(ReviewComment.proposal_id == proposal_id, ReviewComment.series_key == series_key)
        .order_by(ReviewComment.id)
    )
    return list(session.scalars(query))


def rule_for(session: Session, dataset_id: int, branch: str) -> BranchRule | None:
    return session.scalar(
        select(BranchRule).where(BranchRule.dataset_id == dataset_id, BranchRule.branch == branch)
    )
