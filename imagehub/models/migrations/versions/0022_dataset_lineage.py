"""Which dataset a derived dataset came from: it may be no more visible than that one.

A table of its own rather than a column of ``datasets``, which every query of a dataset
reads. Datasets derived before it are found by the first commit of theirs that records
``derived_from`` (the source's ``owner/name``; a live source first, else the latest).

Revision ID: 0022
Revises: 0021
"""

import json

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
    bind = op.get_bind()
    marked = bind.execute(
        sa.text(
            "SELECT repository_id, metadata FROM vcs_commits WHERE metadata LIKE '%derived_from%'"
            " ORDER BY generation DESC"
        )
    )
    sources: dict[int, str] = {}
    for dataset_id, meta in marked:  # oldest last, so the first derive wins
        try:
            source = json.loads(meta).get("derived_from")
        except (ValueError, AttributeError):
            continue
        if isinstance(source, str):
            sources[dataset_id] = source
    for dataset_id, source in sources.items():
        owner, _, name = source.partition("/")
        found = bind.execute(
            sa.text(
                "SELECT id FROM datasets WHERE owner = :owner AND name = :name AND id != :id"
                " ORDER BY CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END, id DESC"
            ),
            {"owner": owner, "name": name, "id": dataset_id},
        ).first()
        if found is not None:
            bind.execute(
                sa.text("INSERT INTO dataset_lineage (dataset_id, source_id) VALUES (:d, :s)"),
                {"d": dataset_id, "s": found[0]},
            )


def downgrade() -> None:
    op.drop_table("dataset_lineage")
