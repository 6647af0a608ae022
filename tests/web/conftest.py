"""One seeded platform and server per module: portal tests only read, so they can share it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import PASSWORD, make_user
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform
from tests.support.portal import Seeded, seed


@dataclass(frozen=True)
class Portal:
    base: str
    platform: Platform
    seeded: Seeded

    @contextmanager
    def browser(self, username: str = "lab") -> Iterator[httpx.Client]:
        """A client signed in through the login form, holding the session cookie like a browser."""
        with httpx.Client(base_url=self.base) as client:
            response = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
            assert response.status_code == 303, response.text
            yield client


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    data_dir: Path = tmp_path_factory.mktemp("portal")
    with migrated_platform(data_dir, dagster_url="http://dagster.example:3000") as platform:
        for user in ("lab", "outsider"):
            make_user(platform, user)
        seeded = seed(platform)
        with live_server(create_app(platform)) as base:
            yield Portal(base, platform, seeded)
