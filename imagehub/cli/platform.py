"""The platform for commands that read or write the database: reachable and migrated, or
one line saying what to do (not a traceback from the first query)."""

from __future__ import annotations

from imagehub.core.config import Settings, load_settings
from imagehub.core.errors import ConfigError
from imagehub.services.platform import Platform, build_platform


def existing_platform(settings: Settings | None = None) -> Platform:
    """The platform of a data directory that exists: a command run with a mistyped
    IMAGEHUB_DATA_DIR (or from another working directory) must not quietly start a second,
    empty instance there."""
    settings = settings or load_settings()
    if not settings.resolved_data_dir.is_dir():
        raise ConfigError(
            f"no ImageHub data directory at {settings.resolved_data_dir}: set IMAGEHUB_DATA_DIR,"
            " or run `imagehub migrate` to make a new instance there"
        )
    return build_platform(settings)


def migrated_platform(settings: Settings | None = None) -> Platform:
    from imagehub.core.db import check_connection
    from imagehub.models.schema import require_current

    platform = existing_platform(settings)
    check_connection(platform.engine)
    require_current(platform.engine)
    return platform
