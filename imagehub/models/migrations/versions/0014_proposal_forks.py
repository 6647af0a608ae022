"""Change proposals from derived datasets (forks): the dataset that holds the source branch.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("source_dataset_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_proposals_source_dataset_id_datasets", "datasets", ["source_dataset_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_constraint("fk_proposals_source_dataset_id_datasets", type_="foreignkey")
        batch.drop_column("source_dataset_id")
