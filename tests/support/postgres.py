"""A fresh PostgreSQL database per test run on the real server at 127.0.0.1:5432."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("IMAGEHUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_database(label: str = "t") -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"imagehub_{label}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_lock_timeout(engine: Engine, timeout: str) -> None:
    """Make PostgreSQL give up a lock wait after ``timeout`` on this engine's database,
    for connections made from now on, as it gives up on one side of a deadlock."""
    with engine.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{engine.url.database}\" SET lock_timeout = '{timeout}'"))
        conn.commit()
    engine.dispose()
