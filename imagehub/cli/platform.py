"""The platform for commands that read or write the database: reachable and migrated, or
one line saying what to do (not a traceback from the first query)."""

from __future__ import annotations

from imagehub.core.config import Settings
from imagehub.services.platform import Platform, build_platform


def migrated_platform(settings: Settings | None = None) -> Platform:
    from imagehub.core.db import check_connection
    from imagehub.models.schema import require_current

    platform = build_platform(settings)
    check_connection(platform.engine)
    require_current(platform.engine)
    return platform
