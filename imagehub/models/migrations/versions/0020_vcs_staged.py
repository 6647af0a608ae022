"""Changes staged on a branch by lakeFS clients, which upload objects one by one and then
commit what has accumulated.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vcs_staged",
        sa.Column("ref_id", sa.Integer(), sa.ForeignKey("vcs_refs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("blob", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_vcs_staged_blob", "vcs_staged", ["blob"])


def downgrade() -> None:
    op.drop_index("ix_vcs_staged_blob", table_name="vcs_staged")
    op.drop_table("vcs_staged")
