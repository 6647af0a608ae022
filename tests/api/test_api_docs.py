"""/api/docs is Swagger UI from our own static files, under the portal's CSP: an offline
install showed a blank page, as FastAPI's default loads it from a public CDN."""

from __future__ import annotations

import re

import httpx
import pytest

from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from imagehub_api.headers import PAGE_CSP
from tests.support.live_server import live_server


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_docs_load_only_same_origin_files_that_are_served(platform: Platform) -> None:
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as client:
        docs = client.get("/api/docs")
        assert docs.status_code == 200
        assert docs.headers["content-security-policy"] == PAGE_CSP
        urls = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert "<script>" not in docs.text  # inline scripts break under the CSP
        assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
        loaded = [url.replace("&amp;", "&") for url in urls if url != "/api/openapi.json"]
        assert any("swagger-ui-bundle.js" in url for url in loaded)
        assert any("swagger-ui.css" in url for url in loaded)
        for url in loaded:
            response = client.get(url)
            assert response.status_code == 200, url
            assert len(response.content) > 100, url
        assert "/api/v1/health" in client.get("/api/openapi.json").json()["paths"]
        assert client.get("/api/redoc").status_code in (401, 404)  # not offered
