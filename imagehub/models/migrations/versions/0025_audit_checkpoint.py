"""How far the audit chain is verified (the newest event a check found linked, and the
first break it found), so the admin page walks only the events appended since instead of
the whole trail on every view.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

from imagehub.models.base import UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    event_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", event_id, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("whole_at", UTCDateTime(), nullable=True),
        sa.Column("broken_id", event_id, nullable=True),
        sa.Column("broken_reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
    )
    op.execute("INSERT INTO audit_checkpoint (id, event_id, hash, broken_reason) VALUES (1, 0, '', '')")


def downgrade() -> None:
    op.drop_table("audit_checkpoint")
