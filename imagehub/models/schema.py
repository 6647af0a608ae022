"""Schema state and upgrades through Alembic, run programmatically.

Migrations live beside the models that they create, ordered and append-only; the
app refuses to start when the database is behind the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from imagehub.core.errors import ImageHubError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class SchemaBehind(ImageHubError):
    """The database has not been migrated to what this code expects."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "no migrations found"
    return head


def schema_state(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return SchemaState(current=current, head=head_revision())


def upgrade(engine: Engine, revision: str = "head") -> SchemaState:
    """Apply every pending migration; safe to run again."""
    command.upgrade(_config(engine), revision)
    return schema_state(engine)


def require_current(engine: Engine) -> None:
    """Refuse to run on a database whose schema is behind, saying what to run."""
    state = schema_state(engine)
    if state.up_to_date:
        return
    at = state.current or "empty"
    raise SchemaBehind(
        f"database schema is at {at}, this ImageHub needs {state.head}: run `imagehub migrate`"
    )
