"""lakeFS SDK clients of a live ImageHub server, and helpers the lakeFS API tests share."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lakefs_sdk
import pytest
from lakefs_sdk.exceptions import ApiException

from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import make_user
from tests.support.live_server import live_server


@dataclass
class Lake:
    base: str
    platform: Platform
    tokens: dict[str, str]

    def client(self, who: str = "lab", *, basic: bool = False) -> lakefs_sdk.ApiClient:
        config = lakefs_sdk.Configuration(host=f"{self.base}/lakefs/lab/api/v1")
        if basic:
            config.username, config.password = who, self.tokens[who]
        else:
            config.access_token = self.tokens[who]
        return lakefs_sdk.ApiClient(config)

    def bearer(self, who: str = "lab") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@contextmanager
def serve(platform: Platform) -> Iterator[Lake]:
    """The platform served live, with users lab, rita and wes (tokens of scope admin)."""
    tokens = {who: make_user(platform, who) for who in ("lab", "rita", "wes")}
    with live_server(create_app(platform)) as base:
        yield Lake(base, platform, tokens)


def status_of(call: object) -> int:
    assert isinstance(call, ApiException)
    return int(call.status)


def refused(fn: object, *args: object, **kwargs: object) -> ApiException:
    with pytest.raises(ApiException) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def upload(client: lakefs_sdk.ApiClient, branch: str, path: str, data: bytes) -> lakefs_sdk.ObjectStats:
    """The SDK sends a file it reads from disk, as a multipart part named ``content``."""
    with tempfile.NamedTemporaryFile() as file:
        file.write(data)
        file.flush()
        return lakefs_sdk.ObjectsApi(client).upload_object("scans", branch, path, content=file.name)


def read(client: lakefs_sdk.ApiClient, ref: str, path: str) -> bytes:
    return bytes(lakefs_sdk.ObjectsApi(client).get_object("scans", ref, path))


def make_repository(client: lakefs_sdk.ApiClient) -> lakefs_sdk.Repository:
    creation = lakefs_sdk.RepositoryCreation(name="scans", storage_namespace="local://ignored")
    return lakefs_sdk.RepositoriesApi(client).create_repository(creation)


def commit(client: lakefs_sdk.ApiClient, branch: str, message: str) -> lakefs_sdk.Commit:
    return lakefs_sdk.CommitsApi(client).commit("scans", branch, lakefs_sdk.CommitCreation(message=message))


def branch(client: lakefs_sdk.ApiClient, name: str, source: str = "main") -> None:
    lakefs_sdk.BranchesApi(client).create_branch("scans", lakefs_sdk.BranchCreation(name=name, source=source))
