"""De-identification policy per dataset, runs and sealed re-identification maps.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from imagehub.models.base import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

POLICY: tuple[sa.Column[str], ...] = (
    sa.Column("deid_profile", sa.String(32), nullable=False, server_default="research"),
    sa.Column("deid_recipe", sa.Text(), nullable=False, server_default=""),
    sa.Column("deid_branch", sa.String(255), nullable=False, server_default="deidentified"),
    sa.Column("deid_ocr", sa.String(16), nullable=False, server_default="tesseract"),
    sa.Column("deid_scan_all_pixels", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("deid_keep_map", sa.Boolean(), nullable=False, server_default=sa.false()),
)


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        for column in POLICY:
            batch.add_column(column)
    op.create_table(
        "deid_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("source_commit", sa.String(64), nullable=False),
        sa.Column("output_commit", sa.String(64), nullable=True),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("report_key", sa.String(200), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("needs_review", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name="fk_deid_runs_dataset_id_datasets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deid_runs"),
    )
    op.create_index("ix_deid_runs_dataset_id", "deid_runs", ["dataset_id"])
    op.create_table(
        "deid_reid_maps",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["deid_runs.id"], name="fk_deid_reid_maps_run_id_deid_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name="pk_deid_reid_maps"),
    )


def downgrade() -> None:
    op.drop_table("deid_reid_maps")
    op.drop_table("deid_runs")
    with op.batch_alter_table("datasets") as batch:
        for column in reversed(POLICY):
            batch.drop_column(column.name)
