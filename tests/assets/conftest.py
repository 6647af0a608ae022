"""Pipeline fixtures: a Dagster instance and resources pointing at a test platform."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, instance_for_test

from imagehub.services.platform import Platform
from imagehub_assets.resources import ImageHubResource, RayResource


def resources_for(platform: Platform, compute: str = "local") -> dict[str, object]:
    settings = platform.settings
    return {
        "imagehub": ImageHubResource(
            data_dir=str(settings.data_dir),
            database_url=settings.effective_database_url,
            storage_url=settings.effective_storage_url,
        ),
        "ray": RayResource(compute=compute, ray_num_cpus=2, ray_object_store_mb=128),
    }


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """A real on-disk instance in a temporary folder, as the daemon would have."""
    with instance_for_test() as local:
        yield local
