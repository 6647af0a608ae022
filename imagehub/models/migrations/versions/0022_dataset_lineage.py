"""Which dataset a derived dataset came from: it may be no more visible than that one.

A table of its own rather than a column of ``datasets``, which every query of a dataset
reads.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_lineage",
        sa.Column(
            "dataset_id", sa.Integer(), sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "source_id", sa.Integer(), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("dataset_lineage")
