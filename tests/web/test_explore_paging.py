"""The explore page pages over what the visitor may see, not over every dataset."""

from __future__ import annotations

import httpx

from imagehub.services import datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import make_user
from tests.support.live_server import live_server


def test_pages_are_full_while_more_readable_datasets_follow(platform: Platform) -> None:
    """Sixty private datasets, then three public ones: an anonymous visitor sees all three on
    the first page, with no link to an empty next page."""
    make_user(platform, "lab")
    with platform.sessions.begin() as session:
        for n in range(60):
            datasets.create(session, owner="lab", name=f"closed-{n:02}", author="lab")
        for n in range(3):
            datasets.create(session, owner="lab", name=f"open-{n}", author="lab", visibility="public")
    with live_server(create_app(platform)) as base:
        first = httpx.get(f"{base}/").text
    assert all(f'href="/lab/open-{n}"' in first for n in range(3))
    assert "closed-" not in first
    assert "More datasets" not in first
