"""Database engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from imagehub.core.errors import ConfigError
from imagehub.core.redact import masked_url


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, fit for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(f"database URL {masked_url(url)!r} is not a valid URL") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r}; use sqlite:// or postgresql://"
        )
    return parsed


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _prepare_sqlite(dbapi_connection: Any, _record: object) -> None:
    # SQLite's own lower() folds ASCII only: searches for "Ödem" would miss "ödem".
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
    # WAL lets readers run beside the single writer; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and sane pragmas."""
    parsed = _normalise(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot make {folder} for the SQLite database: {exc.strerror}") from None
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
    try:
        engine = create_engine(parsed, **kwargs)
    except ModuleNotFoundError as exc:  # postgresql+asyncpg, say: a driver ImageHub does not ship
        raise ConfigError(
            f"database driver {parsed.drivername!r} is not installed: use sqlite:// or postgresql://"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _prepare_sqlite)
    return engine


def check_connection(engine: Engine) -> None:
    """Raise ConfigError with one line if the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise ConfigError(f"cannot connect to database {safe_url(engine.url)}: {reason(exc)}") from exc


def reason(exc: DBAPIError) -> str:
    """The driver's own one-line account of a database error."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


# PostgreSQL's codes for a transaction it aborted to let a concurrent one through: deadlock
# detected, serialization failure, lock not available.
_CONTENTION_STATES = frozenset({"40P01", "40001", "55P03"})


def is_contention(exc: BaseException) -> bool:
    """Whether the database refused this transaction only because of a concurrent one, so
    that nothing was written and the same request may simply be sent again (SQLite says so
    when its busy timeout ran out)."""
    if not isinstance(exc, DBAPIError):
        return False
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)  # psycopg 3 or 2
    if state in _CONTENTION_STATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
