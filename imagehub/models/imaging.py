"""Tables the imaging pipeline fills: what each blob is, what each commit holds, its series.

Metadata is keyed by blob, because it depends only on the bytes: a commit that changes
ten files of a 100k-file dataset extracts ten headers. The per-commit rows are the
search index; series rows carry the derived artefacts and name the commit they came
from, which is the lineage a reviewer follows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagehub.models.base import Base, UTCDateTime, utcnow
from imagehub.models.vcs import BlobRow, CommitRow


class ImagingFile(Base):
    __tablename__ = "imaging_files"

    blob: Mapped[str] = mapped_column(String(64), primary_key=True)
    extractor: Mapped[str] = mapped_column(String(16))  # code version that produced the row
    kind: Mapped[str] = mapped_column(String(12))  # dicom | nifti | unreadable
    reason: Mapped[str] = mapped_column(Text, default="")
    study_uid: Mapped[str | None] = mapped_column(String(64), index=True)
    series_uid: Mapped[str | None] = mapped_column(String(64), index=True)
    sop_uid: Mapped[str | None] = mapped_column(String(64))
    modality: Mapped[str | None] = mapped_column(String(16), index=True)
    body_part: Mapped[str | None] = mapped_column(String(64))
    series_description: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[str] = mapped_column(Text, default="{}")  # JSON of the full metadata
    extracted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommitFile(Base):
    __tablename__ = "imaging_commit_files"
    __table_args__ = (Index("ix_imaging_commit_files_blob", "blob"),)

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    commit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    blob: Mapped[str] = mapped_column(String(64))
    series_key: Mapped[str | None] = mapped_column(String(128))


class SeriesRow(Base):
    """A DICOM series, or a NIfTI volume (key ``nifti:<blob>``), as of one commit."""

    __tablename__ = "imaging_series"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    commit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    series_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    study_uid: Mapped[str | None] = mapped_column(String(64))
    modality: Mapped[str | None] = mapped_column(String(16))
    body_part: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(255))
    instances: Mapped[int] = mapped_column(Integer)
    members: Mapped[str] = mapped_column(Text)  # JSON list of paths, in geometric order
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    thumbnail_error: Mapped[str] = mapped_column(Text, default="")
    nifti_key: Mapped[str | None] = mapped_column(String(200))
    nifti_error: Mapped[str] = mapped_column(Text, default="")


class Materialization(Base):
    """The last time an asset was built for a commit, and by which code version."""

    __tablename__ = "pipeline_materializations"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    commit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_version: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text, default="{}")
    seconds: Mapped[float] = mapped_column(Float)
    materialized_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def commit_indexed(session: Session, dataset_id: int, commit_id: str) -> bool:
    """Whether the pipeline's metadata step (or an on-demand DICOMweb index) has listed the
    commit's files: only then does "no series" mean none."""
    query = select(CommitFile.path).where(
        CommitFile.dataset_id == dataset_id, CommitFile.commit_id == commit_id
    )
    return session.scalar(query.limit(1)) is not None


def forget_removed_commits(session: Session) -> None:
    """Drop the pipeline's rows of commits that gc removed, and the metadata of blobs that
    neither the index nor any remaining commit names (rows are shared by blob across datasets)."""
    for table in (CommitFile, SeriesRow, Materialization):
        kept = select(CommitRow.id).where(
            CommitRow.repository_id == table.dataset_id, CommitRow.id == table.commit_id
        )
        session.execute(delete(table).where(~kept.exists()))
    session.execute(
        delete(ImagingFile).where(
            ImagingFile.blob.not_in(select(BlobRow.id)), ImagingFile.blob.not_in(select(CommitFile.blob))
        )
    )


def derived_keys(session: Session, *, leaving: Collection[str] = ()) -> set[str]:
    """The thumbnails and volumes that series rows name, but for the rows of the commits
    ``leaving`` (those a dry run of gc would remove)."""
    keys: set[str] = set()
    rows = select(SeriesRow.commit_id, SeriesRow.thumbnail_key, SeriesRow.nifti_key)
    for commit_id, thumbnail, volume in session.execute(rows):
        if commit_id in leaving:
            continue
        keys.update(key for key in (thumbnail, volume) if key)
    return keys
