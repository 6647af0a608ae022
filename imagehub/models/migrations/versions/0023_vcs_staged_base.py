"""What the head held at a staged path when the change was staged, so that a staged change
stands only until another writer changes that path on the branch.

Rows staged before it keep no base (NULL): they stand over whatever the head holds, as
they did.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vcs_staged") as table:
        table.add_column(sa.Column("base", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vcs_staged") as table:
        table.drop_column("base")
