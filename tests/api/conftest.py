"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imagehub.services.platform import Platform
from tests.support.lakefs import Lake, serve


@pytest.fixture
def lake(platform: Platform) -> Iterator[Lake]:
    """A live server for lakeFS SDK clients of users lab, rita and wes."""
    with serve(platform) as served:
        yield served
