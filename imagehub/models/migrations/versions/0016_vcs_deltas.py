"""Recorded deltas: each edit keeps the changes it made from one tree to the next, so
the diffs of a commit and of a merge's two sides read only what changed.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vcs_deltas",
        sa.Column("from_tree", sa.String(64), primary_key=True),
        sa.Column("to_tree", sa.String(64), primary_key=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_vcs_deltas_to_tree", "vcs_deltas", ["to_tree"])


def downgrade() -> None:
    op.drop_index("ix_vcs_deltas_to_tree", table_name="vcs_deltas")
    op.drop_table("vcs_deltas")
