"""The assembled platform: settings, database and object store, built once per process.

The CLI, the HTTP app and the Dagster resources all start from ``build_platform`` so
that every entry point fails the same way, in one line, on bad settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from imagehub.core.config import Settings, ensure_data_dir, load_settings, resolve_secret_key
from imagehub.core.db import make_engine, session_factory
from imagehub.core.storage import ObjectStore, open_store


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    secret_key: str

    def close(self) -> None:
        self.engine.dispose()


def build_platform(settings: Settings | None = None) -> Platform:
    """Wire settings to drivers without touching the network; checks come separately."""
    settings = settings or load_settings()
    ensure_data_dir(settings)
    engine = make_engine(settings.effective_database_url)
    return Platform(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        store=open_store(settings.effective_storage_url, settings),
        secret_key=resolve_secret_key(settings),
    )
