"""Upload sessions record when they last received a chunk: gc expires abandoned uploads by
that, not by when they started, so a long upload that is still arriving is kept.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload_sessions") as table:
        table.add_column(sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE upload_sessions SET touched_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("upload_sessions") as table:
        table.drop_column("touched_at")
