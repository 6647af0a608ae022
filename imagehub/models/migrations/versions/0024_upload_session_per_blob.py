"""One upload session per person, dataset and blob: two clients starting the same upload
at once get the same session rather than two that race to complete it. A completed session
is kept (``completed_at``) until it expires, so that a completion sent again (its answer was
lost, or two clients completed at once) is answered from it.

Duplicates made before the constraint keep the session that received the most.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_KEY = ("dataset_id", "blob", "size", "created_by")


def upgrade() -> None:
    same = " AND ".join(f"other.{column} = upload_sessions.{column}" for column in _KEY)
    op.execute(
        "DELETE FROM upload_sessions WHERE EXISTS (SELECT 1 FROM upload_sessions AS other WHERE "
        f"{same} AND (other.received > upload_sessions.received OR "
        "(other.received = upload_sessions.received AND other.id > upload_sessions.id)))"
    )
    with op.batch_alter_table("upload_sessions") as table:
        table.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
        table.create_unique_constraint("uq_upload_sessions_blob", list(_KEY))


def downgrade() -> None:
    with op.batch_alter_table("upload_sessions") as table:
        table.drop_constraint("uq_upload_sessions_blob", type_="unique")
        table.drop_column("completed_at")
