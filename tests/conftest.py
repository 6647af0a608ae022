"""Shared fixtures: every database test runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from imagehub.core.config import Settings
from imagehub.models.schema import upgrade
from imagehub.sdk.client import Client
from imagehub.sdk.objects import ObjectCache
from imagehub.services.platform import Platform, build_platform
from imagehub_api.app import create_app
from tests.support.accounts import make_user
from tests.support.live_server import live_server
from tests.support.ports import free_port
from tests.support.postgres import fresh_database

S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, fresh for every test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    else:
        with fresh_database() as url:
            yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Webhook receivers in tests listen on loopback, so hooks may reach private networks."""
    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=database_url,
        webhook_allow_private_networks=True,
    )


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    """A migrated platform on local disk storage."""
    built = build_platform(settings)
    upgrade(built.engine)
    yield built
    built.close()


@dataclass
class Server:
    url: str
    token: str
    tmp: Path

    def client(self, cache_name: str = "cache") -> Client:
        return Client(self.url, self.token, cache=ObjectCache(self.tmp / cache_name))


@pytest.fixture
def server(platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    token = make_user(platform, "lab")
    monkeypatch.setenv("IMAGEHUB_TOKEN", token)
    monkeypatch.setenv("IMAGEHUB_CACHE_DIR", str(tmp_path / "cache"))
    with live_server(create_app(platform)) as url:
        yield Server(url, token, tmp_path)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, shared by the session."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass(frozen=True)
class S3Storage:
    """A fresh bucket on the moto server, a client to it, and platform settings storing there."""

    client: Any
    bucket: str
    settings: dict[str, str]


@pytest.fixture
def s3_storage(moto_endpoint: str) -> S3Storage:
    bucket = f"ih-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", **S3_CREDENTIALS)
    client.create_bucket(Bucket=bucket)
    settings = {
        "storage_url": f"s3://{bucket}/store",
        "s3_endpoint_url": moto_endpoint,
        "s3_region": "us-east-1",
        "s3_access_key_id": S3_CREDENTIALS["aws_access_key_id"],
        "s3_secret_access_key": S3_CREDENTIALS["aws_secret_access_key"],
    }
    return S3Storage(client, bucket, settings)
