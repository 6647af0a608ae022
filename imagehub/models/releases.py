"""Dataset releases: an immutable, citable version of a dataset (a tag plus notes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("dataset_id", "tag", name="uq_releases_dataset_id_tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(255))
    commit_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    notes: Mapped[str] = mapped_column(Text, default="")
    doi: Mapped[str] = mapped_column(String(255), default="")
    authors: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of names
    summary: Mapped[str] = mapped_column(Text)  # JSON, frozen at creation
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def by_tag(session: Session, dataset_id: int, tag: str) -> Release | None:
    return session.scalar(select(Release).where(Release.dataset_id == dataset_id, Release.tag == tag))


def page(session: Session, dataset_id: int, *, before: int | None, limit: int) -> list[Release]:
    """Newest first, strictly before the id ``before`` when given."""
    query = select(Release).where(Release.dataset_id == dataset_id)
    if before is not None:
        query = query.where(Release.id < before)
    return list(session.scalars(query.order_by(Release.id.desc()).limit(limit)))


def all_commits(session: Session) -> set[str]:
    """The commit of every release of every dataset: gc keeps them even if a tag went
    missing (releases made before their tags were protected)."""
    return set(session.scalars(select(Release.commit_id)))
