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
from sqlalchemy.exc import DBAPIError

from imagehub.core.db.engine import reason
from imagehub.core.errors import ImageHubError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class SchemaBehind(ImageHubError):
    """The database has not been migrated to what this code expects."""


class SchemaAhead(ImageHubError):
    """A newer ImageHub migrated the database: this code must not touch it."""


class MigrationFailed(ImageHubError):
    """A migration could not be applied; the database is as it was before it."""


class MigrationRefused(Exception):
    """Raised by a migration that finds data it cannot carry over, with what to do about it."""


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
    """Apply every pending migration; safe to run again. A database a newer ImageHub
    migrated, one the configured user may not change, or data a migration cannot carry
    over is one clear error, and the migration that met it changes nothing."""
    _refuse_newer(engine)
    try:
        command.upgrade(_config(engine), revision)
    except DBAPIError as exc:
        raise MigrationFailed(f"the database refused the migration: {reason(exc)}") from None
    except MigrationRefused as exc:
        raise MigrationFailed(str(exc)) from None
    return schema_state(engine)


def require_current(engine: Engine) -> None:
    """Refuse to run on a database whose schema is behind, saying what to run."""
    _refuse_newer(engine)
    state = schema_state(engine)
    if state.up_to_date:
        return
    at = state.current or "empty"
    raise SchemaBehind(
        f"database schema is at {at}, this ImageHub needs {state.head}: run `imagehub migrate`"
    )


def _refuse_newer(engine: Engine) -> None:
    state = schema_state(engine)
    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    if state.current is not None and state.current not in known:
        raise SchemaAhead(
            f"database schema is at {state.current}, newer than this ImageHub knows (up to"
            f" {state.head}): run the ImageHub version that migrated it, or a later one"
        )
