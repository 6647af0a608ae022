"""Issues and annotation tasks on a dataset, their comments, and the series they are about.

Numbers are per dataset (``#1``, ``#2`` ...) like proposals. A series link pins the
series at one commit: a QC finding stays reproducible after the branch moves on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow

STATES = ("open", "closed")


class Issue(Base):
    __tablename__ = "issues"
    __table_args__ = (UniqueConstraint("dataset_id", "number", name="uq_issues_dataset_id_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of normalised labels
    assignee: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IssueComment(Base):
    __tablename__ = "issue_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssueSeriesLink(Base):
    """One series (a DICOM series UID, or ``nifti:<blob>``) at one commit, optionally one file of it."""

    __tablename__ = "issue_series_links"
    __table_args__ = (
        UniqueConstraint(
            "issue_id", "commit_id", "series_instance_uid", name="uq_issue_series_links_issue_id_commit_id"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(String(255))  # as the linker named it
    commit_id: Mapped[str] = mapped_column(String(64))  # what it resolved to: the pinned version
    series_instance_uid: Mapped[str] = mapped_column(String(128))
    path: Mapped[str | None] = mapped_column(String(1024))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def next_number(session: Session, dataset_id: int) -> int:
    """The number the dataset's next issue gets (callers serialise on the dataset row)."""
    highest = session.scalar(select(func.max(Issue.number)).where(Issue.dataset_id == dataset_id))
    return (highest or 0) + 1


def by_number(session: Session, dataset_id: int, number: int) -> Issue | None:
    return session.scalar(select(Issue).where(Issue.dataset_id == dataset_id, Issue.number == number))


def page(
    session: Session,
    dataset_id: int,
    *,
    states: tuple[str, ...],
    after: int,
    limit: int,
    label: str = "",
    assignee: str = "",
    text: str = "",
) -> list[Issue]:
    """Issues in the given states, by number, strictly after ``after``, filtered.

    Labels are stored as a JSON list of strings whose charset excludes quotes, so a
    label matches exactly as the quoted string inside that list.
    """
    query = select(Issue).where(Issue.dataset_id == dataset_id, Issue.state.in_(states), Issue.number > after)
    if label:
        query = query.where(Issue.labels.contains(f'"{label}"', autoescape=True))
    if assignee:
        query = query.where(Issue.assignee == assignee)
    if text:
        query = query.where(func.lower(Issue.title).contains(text.lower(), autoescape=True))
    return list(session.scalars(query.order_by(Issue.number).limit(limit)))


def comments(session: Session, issue_id: int, *, after: int, limit: int) -> list[IssueComment]:
    """An issue's comments, oldest first, strictly after comment id ``after``."""
    query = (
        select(IssueComment)
        .where(IssueComment.issue_id == issue_id, IssueComment.id > after)
        .order_by(IssueComment.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def links(session: Session, issue_id: int, limit: int) -> list[IssueSeriesLink]:
    query = (
        select(IssueSeriesLink)
        .where(IssueSeriesLink.issue_id == issue_id)
        .order_by(IssueSeriesLink.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def count_links(session: Session, issue_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(IssueSeriesLink).where(IssueSeriesLink.issue_id == issue_id)
        )
        or 0
    )


def count_comments(session: Session, issue_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(IssueComment).where(IssueComment.issue_id == issue_id)
        )
        or 0
    )
