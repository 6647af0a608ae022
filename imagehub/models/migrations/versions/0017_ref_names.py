"""Branches and tags share one namespace per dataset, enforced by the database: checking for
the other kind before inserting let a branch and a tag of the same name be created at
once on PostgreSQL.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from imagehub.models.schema import MigrationRefused

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    twins = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT d.owner, d.name, r.name FROM vcs_refs r JOIN datasets d ON d.id = r.repository_id"
                " GROUP BY r.repository_id, d.owner, d.name, r.name HAVING COUNT(*) > 1"
            )
        )
        .all()
    )
    if twins:
        owner, dataset, name = twins[0]
        raise MigrationRefused(
            f"{len(twins)} ref name(s) are both a branch and a tag, such as {name!r} in {owner}/{dataset}:"
            " with the ImageHub version you upgraded from, delete one of each pair (DELETE"
            " /api/v1/datasets/{owner}/{name}/tags/{tag}, or the branch), then migrate again"
        )
    op.create_index("uq_vcs_refs_one_name", "vcs_refs", ["repository_id", "name"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_vcs_refs_one_name", table_name="vcs_refs")
