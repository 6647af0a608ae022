"""A migrated platform with settings of a test's own, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from imagehub.core.config import Settings
from imagehub.models.schema import upgrade
from imagehub.services.platform import Platform, build_platform


@contextmanager
def migrated_platform(data_dir: Path, database_url: str = "", **overrides: Any) -> Iterator[Platform]:
    settings = Settings(environment="test", data_dir=data_dir, database_url=database_url, **overrides)
    platform = build_platform(settings)
    upgrade(platform.engine)
    try:
        yield platform
    finally:
        platform.close()
