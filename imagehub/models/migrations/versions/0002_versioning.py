"""Versioning engine: refs, commits, tree nodes, blobs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from imagehub.models.base import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vcs_refs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "repository_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE", name="fk_vcs_refs_repository_id_datasets"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("commit_id", sa.String(64), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("repository_id", "kind", "name", name="uq_vcs_refs_repository_id"),
    )
    op.create_table(
        "vcs_commits",
        sa.Column(
            "repository_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE", name="fk_vcs_commits_repository_id_datasets"),
            nullable=False,
        ),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tree", sa.String(64), nullable=False),
        sa.Column("parents", sa.Text(), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "id", name="pk_vcs_commits"),
    )
    op.create_table(
        "vcs_nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("touched_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_vcs_nodes_touched_at", "vcs_nodes", ["touched_at"])
    op.create_table(
        "vcs_blobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("touched_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_vcs_blobs_touched_at", "vcs_blobs", ["touched_at"])


def downgrade() -> None:
    op.drop_index("ix_vcs_blobs_touched_at", table_name="vcs_blobs")
    op.drop_table("vcs_blobs")
    op.drop_index("ix_vcs_nodes_touched_at", table_name="vcs_nodes")
    op.drop_table("vcs_nodes")
    op.drop_table("vcs_commits")
    op.drop_table("vcs_refs")
