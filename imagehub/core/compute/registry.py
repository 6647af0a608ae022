"""Pick the executor the settings name."""

from __future__ import annotations

import os

from imagehub.core.compute.base import Executor
from imagehub.core.compute.local import LocalExecutor
from imagehub.core.config import Settings
from imagehub.core.errors import ConfigError


def open_executor(settings: Settings) -> Executor:
    if settings.compute == "local":
        return LocalExecutor()
    try:
        from imagehub.core.compute.ray_driver import RayExecutor
    except ImportError as exc:  # pragma: no cover - ray ships with the pipeline extra
        raise ConfigError("IMAGEHUB_COMPUTE=ray needs Ray: install imagehub[pipeline]") from exc
    address = settings.ray_address or os.environ.get("RAY_ADDRESS") or None
    return RayExecutor(address, settings.ray_num_cpus, settings.ray_object_store_mb)
