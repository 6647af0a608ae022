"""Datasets: the repositories of ImageHub, addressed as ``owner/name``."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.core.auth.policy import matches_phi_pattern
from imagehub.models.base import Base, UTCDateTime, utcnow


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (
        # Names are unique among live datasets; a soft-deleted one frees its name.
        Index(
            "uq_datasets_owner_name_live",
            "owner",
            "name",
            unique=True,
            sqlite_where="deleted_at IS NULL",
            postgresql_where="deleted_at IS NULL",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    phi_branches: Mapped[str] = mapped_column(Text, default='["raw", "raw-*"]')  # JSON list of patterns
    phi_role: Mapped[str] = mapped_column(String(8), default="admin")  # least role that may open them
    agreement: Mapped[str] = mapped_column(Text, default="")  # data-use agreement for access requests
    deid_profile: Mapped[str] = mapped_column(String(32), default="research")
    deid_recipe: Mapped[str] = mapped_column(Text, default="")  # custom rules, `deid` recipe format
    deid_branch: Mapped[str] = mapped_column(String(255), default="deidentified")
    deid_ocr: Mapped[str] = mapped_column(String(16), default="tesseract")  # tesseract | easyocr | none
    deid_scan_all_pixels: Mapped[bool] = mapped_column(Boolean, default=False)
    deid_keep_map: Mapped[bool] = mapped_column(Boolean, default=False)  # re-identification map allowed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def full_name(self) -> str:
        """``owner/name``, as people and URLs name a dataset."""
        return f"{self.owner}/{self.name}"

    def is_phi_branch(self, branch: str) -> bool:
        """Whether ``branch`` matches one of the dataset's PHI (raw) branch patterns."""
        return matches_phi_pattern(branch, json.loads(self.phi_branches))


class DatasetLineage(Base):
    """Which dataset a derived dataset was made from (it may be no more visible than that one)."""

    __tablename__ = "dataset_lineage"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))


def source_of(session: Session, dataset: Dataset) -> Dataset | None:
    """The dataset ``dataset`` was derived from, if it was."""
    found = session.get(DatasetLineage, dataset.id)
    return session.get(Dataset, found.source_id) if found else None


def derived_from(session: Session, dataset: Dataset) -> list[Dataset]:
    """The datasets derived from ``dataset`` (directly), deleted ones too: a restore brings
    one back as it was."""
    query = (
        select(Dataset)
        .join(DatasetLineage, DatasetLineage.dataset_id == Dataset.id)
        .where(DatasetLineage.source_id == dataset.id)
        .order_by(Dataset.id)
    )
    return list(session.scalars(query))


def get_live(session: Session, *, owner: str, name: str) -> Dataset | None:
    """The dataset named ``owner/name`` that has not been deleted."""
    return session.scalar(
        select(Dataset).where(Dataset.owner == owner, Dataset.name == name, Dataset.deleted_at.is_(None))
    )


def lock_dataset(session: Session, dataset: Dataset) -> None:
    """Hold the dataset's row until the transaction ends, so that a check made afterwards
    (the next number, a per-dataset limit) still holds when the row it guards is inserted.
    An update that changes nothing: PostgreSQL locks the row, and SQLite, which ignores
    ``FOR UPDATE`` and begins a transaction only at its first write, takes its one write
    lock, so the check reads after any writer before it has committed. The dataset is
    read again under the lock: what was loaded before it may be stale."""
    session.execute(
        update(Dataset)
        .where(Dataset.id == dataset.id)
        .values(id=Dataset.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(dataset)
