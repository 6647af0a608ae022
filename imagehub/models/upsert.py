"""Insert-or-update of many rows in one statement, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

UPSERT_CHUNK = 10_000  # rows per executemany: bounds the parameters held at once


def upsert(session: Session, table: Any, rows: Sequence[dict[str, Any]], touch: Sequence[str]) -> None:
    """Insert rows; on an existing key refresh only the ``touch`` columns. One statement,
    compiled once (and cached), executed over chunks of rows by the driver's executemany.

    Rows go in key order: each locks its key as it goes in, so two writers of overlapping
    rows wait for each other instead of deadlocking; and unlike a delete then an insert,
    a row another writer inserts meanwhile is updated, not a duplicate key."""
    if not rows:
        return
    rows = sorted(rows, key=itemgetter(*(c.name for c in table.primary_key.columns)))
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    if touch:
        statement = statement.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={name: statement.excluded[name] for name in touch},
        )
    else:
        statement = statement.on_conflict_do_nothing()
    for start in range(0, len(rows), UPSERT_CHUNK):
        session.execute(statement, rows[start : start + UPSERT_CHUNK])
