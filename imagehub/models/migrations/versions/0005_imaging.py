"""Imaging metadata, per-commit index, series and pipeline materialisations.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from imagehub.models.base import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _dataset_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["dataset_id"], ["datasets.id"], name=f"fk_{table}_dataset_id_datasets", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "imaging_files",
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("extractor", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("study_uid", sa.String(64), nullable=True),
        sa.Column("series_uid", sa.String(64), nullable=True),
        sa.Column("sop_uid", sa.String(64), nullable=True),
        sa.Column("modality", sa.String(16), nullable=True),
        sa.Column("body_part", sa.String(64), nullable=True),
        sa.Column("series_description", sa.String(255), nullable=True),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("extracted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("blob", name="pk_imaging_files"),
    )
    for column in ("study_uid", "series_uid", "modality"):
        op.create_index(f"ix_imaging_files_{column}", "imaging_files", [column])
    op.create_table(
        "imaging_commit_files",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("series_key", sa.String(128), nullable=True),
        _dataset_fk("imaging_commit_files"),
        sa.PrimaryKeyConstraint("dataset_id", "commit_id", "path", name="pk_imaging_commit_files"),
    )
    op.create_index("ix_imaging_commit_files_blob", "imaging_commit_files", ["blob"])
    op.create_table(
        "imaging_series",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.String(64), nullable=False),
        sa.Column("series_key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("study_uid", sa.String(64), nullable=True),
        sa.Column("modality", sa.String(16), nullable=True),
        sa.Column("body_part", sa.String(64), nullable=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("thumbnail_key", sa.String(200), nullable=True),
        sa.Column("thumbnail_error", sa.Text(), nullable=False),
        sa.Column("nifti_key", sa.String(200), nullable=True),
        sa.Column("nifti_error", sa.Text(), nullable=False),
        _dataset_fk("imaging_series"),
        sa.PrimaryKeyConstraint("dataset_id", "commit_id", "series_key", name="pk_imaging_series"),
    )
    op.create_table(
        "pipeline_materializations",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(64), nullable=False),
        sa.Column("code_version", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("materialized_at", UTCDateTime(), nullable=False),
        _dataset_fk("pipeline_materializations"),
        sa.PrimaryKeyConstraint("dataset_id", "commit_id", "asset", name="pk_pipeline_materializations"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_materializations")
    op.drop_table("imaging_series")
    op.drop_table("imaging_commit_files")
    op.drop_table("imaging_files")
