"""Swagger UI at /api/docs draws the API's operations from our own files, under the CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route

from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.browser import WATCH_SCRIPT, artifacts_dir
from tests.support.live_server import live_server


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_swagger_ui_renders_offline_with_no_csp_violation(chromium: Browser, platform: Platform) -> None:
    with live_server(create_app(platform)) as base:
        context = chromium.new_context(base_url=base)
        context.add_init_script(WATCH_SCRIPT)
        outside: list[str] = []

        def only_this_server(route: Route) -> None:  # as on an install without internet access
            if route.request.url.startswith(base):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_this_server)
        page = context.new_page()
        page.goto("/api/docs")
        page.wait_for_selector("#operations-health-health-get", timeout=30_000)
        (artifacts_dir() / "api-docs.png").write_bytes(page.screenshot())
        assert page.evaluate("window.__csp") == []
        assert outside == []
        context.close()
