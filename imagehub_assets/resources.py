"""Dagster resources: ImageHub's platform (database and storage) and Ray.

Asset code asks these for a platform and an executor and never sees a URL, a
connection or Ray itself. Empty fields fall back to ImageHub's own settings
(``IMAGEHUB_*`` and the TOML file), so the pipeline reads the same configuration as
the server.
"""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from imagehub.core.compute import Executor, open_executor
from imagehub.core.config import Settings, load_settings
from imagehub.services.platform import Platform, build_platform


class ImageHubResource(ConfigurableResource):  # type: ignore[type-arg]
    """The platform the pipeline reads commits from and writes derived data to."""

    data_dir: str = ""
    database_url: str = ""
    storage_url: str = ""

    _platform: Platform | None = PrivateAttr(default=None)

    def platform(self) -> Platform:
        if self._platform is None:
            self._platform = build_platform(_settings(self, ("data_dir", "database_url", "storage_url")))
        return self._platform

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._platform is not None:
            self._platform.close()
            self._platform = None


class RayResource(ConfigurableResource):  # type: ignore[type-arg]
    """Where per-instance work runs: a local Ray by default, a cluster with ``address``."""

    compute: str = ""  # "ray" or "local"; empty: IMAGEHUB_COMPUTE, else ray
    ray_address: str = ""  # empty: IMAGEHUB_RAY_ADDRESS, else RAY_ADDRESS, else a local Ray
    ray_num_cpus: int = 0
    ray_object_store_mb: int = 0

    _executor: Executor | None = PrivateAttr(default=None)

    def executor(self) -> Executor:
        """Started on first use, so a sensor tick never starts Ray."""
        if self._executor is None:
            fields = ("compute", "ray_address", "ray_num_cpus", "ray_object_store_mb")
            self._executor = open_executor(_settings(self, fields))
        return self._executor

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._executor is not None:
            self._executor.close()
            self._executor = None


def _settings(resource: ConfigurableResource, fields: tuple[str, ...]) -> Settings:  # type: ignore[type-arg]
    overrides: dict[str, Any] = {name: getattr(resource, name) for name in fields if getattr(resource, name)}
    return load_settings(**overrides)
