"""Dataset issues and annotation tasks with comments and series links.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from imagehub.models.base import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name="fk_issues_dataset_id_datasets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_issues"),
        sa.UniqueConstraint("dataset_id", "number", name="uq_issues_dataset_id_number"),
    )
    op.create_table(
        "issue_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name="fk_issue_comments_issue_id_issues", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_issue_comments"),
    )
    op.create_index("ix_issue_comments_issue_id", "issue_comments", ["issue_id"])
    op.create_table(
        "issue_series_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("commit_id", sa.String(64), nullable=False),
        sa.Column("series_instance_uid", sa.String(128), nullable=False),
        sa.Column("path", sa.String(1024), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name="fk_issue_series_links_issue_id_issues", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_issue_series_links"),
        sa.UniqueConstraint(
            "issue_id",
            "commit_id",
            "series_instance_uid",
            name="uq_issue_series_links_issue_id_commit_id",
        ),
    )
    op.create_index("ix_issue_series_links_issue_id", "issue_series_links", ["issue_id"])


def downgrade() -> None:
    op.drop_index("ix_issue_series_links_issue_id", table_name="issue_series_links")
    op.drop_table("issue_series_links")
    op.drop_index("ix_issue_comments_issue_id", table_name="issue_comments")
    op.drop_table("issue_comments")
    op.drop_table("issues")
