"""Headless Chromium against one seeded portal per module; screenshots go to the CI artefacts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.support.accounts import PASSWORD
from tests.support.browser import launch_chromium, signed_in_context
from tests.support.portal import Portal, running_portal


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with running_portal(tmp_path_factory.mktemp("portal")) as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def context(chromium: Browser, portal: Portal) -> Iterator[BrowserContext]:
    context = signed_in_context(chromium, portal.base, "lab", PASSWORD)
    yield context
    context.close()
