"""Both drivers, behind the same fixture, for the shared contract suite."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from imagehub.core.config import Settings
from imagehub.core.storage import ObjectStore, open_store
from tests.conftest import S3_CREDENTIALS


@pytest.fixture
def s3_settings(moto_endpoint: str) -> Settings:
    return Settings(
        environment="test",
        s3_endpoint_url=moto_endpoint,
        s3_region="us-east-1",
        s3_access_key_id=S3_CREDENTIALS["aws_access_key_id"],
        s3_secret_access_key=S3_CREDENTIALS["aws_secret_access_key"],  # type: ignore[arg-type]
    )


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    bucket = f"imagehub-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", **S3_CREDENTIALS).create_bucket(
        Bucket=bucket
    )
    return bucket


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "file":
        return open_store((tmp_path / "objects").as_uri())
    bucket = request.getfixturevalue("s3_bucket")
    settings = request.getfixturevalue("s3_settings")
    return open_store(f"s3://{bucket}/some/prefix", settings)
