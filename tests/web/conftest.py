"""One seeded platform and server per module: portal tests only read, so they can share it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.portal import Portal, running_portal


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with running_portal(tmp_path_factory.mktemp("portal")) as running:
        yield running
