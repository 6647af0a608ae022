"""Dataset files are the uploader's bytes: every route that sends them keeps a browser from
running them as the portal (stored XSS through a chosen media type)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.live_server import live_server

DS = "/api/v1/datasets/lab/pub"
SANDBOX = "sandbox; default-src 'none'"
PAGE = b"<script>fetch('/api/v1/auth/tokens', {method: 'POST'})</script>"
FILES = {
    "steal.html": "text/html",
    "steal.svg": "image/svg+xml",
    "steal.js": "application/javascript",
    "page.txt": "TEXT/HTML; charset=utf-8",
    "notes.txt": "text/plain; charset=utf-8",
    "scan.dcm": "application/dicom",
}


@pytest.fixture
def http(platform: Platform) -> Iterator[httpx.Client]:
    """A public dataset holding pages and scripts committed under active media types."""
    token = make_user(platform, "lab")
    with (
        live_server(create_app(platform)) as base,
        httpx.Client(base_url=base, timeout=30, headers=bearer(token)) as client,
    ):
        made = client.post("/api/v1/datasets", json={"owner": "lab", "name": "pub", "visibility": "public"})
        assert made.status_code == 201, made.text
        blob = hashlib.sha256(PAGE).hexdigest()
        assert client.put(f"{DS}/blobs/{blob}", content=PAGE).status_code == 201
        puts = [{"path": p, "blob": blob, "size": len(PAGE), "media_type": t} for p, t in FILES.items()]
        body = {"message": "pages", "changes": {"put": puts}}
        assert client.post(f"{DS}/branches/main/commits", json=body).status_code == 201
        yield client


def downloads(http: httpx.Client, path: str) -> list[httpx.Response]:
    """The answers of every route that sends the file's bytes, whole or in part, GET or HEAD."""
    content = f"{DS}/refs/main/objects/content"
    lakefs = "/lakefs/lab/api/v1/repositories/pub/refs/main/objects"
    return [
        http.get(content, params={"path": path}),
        http.get(content, params={"path": path}, headers={"Range": "bytes=0-9"}),
        http.get(lakefs, params={"path": path}),
        http.head(lakefs, params={"path": path}),
    ]


@pytest.mark.parametrize("path", ["steal.html", "steal.svg", "steal.js", "page.txt"])
def test_active_types_are_sent_as_bytes_to_save_in_a_sandbox(http: httpx.Client, path: str) -> None:
    for response in downloads(http, path):
        assert response.status_code in (200, 206), response.text
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"] == f"attachment; filename*=UTF-8''{path}"
        assert response.headers["content-security-policy"] == SANDBOX
        assert response.headers["x-content-type-options"] == "nosniff"
    stat = http.get(f"{DS}/refs/main/objects/stat", params={"path": path})
    assert stat.json()["media_type"] == FILES[path]  # the listing keeps what was committed


@pytest.mark.parametrize(("path", "shown"), [("notes.txt", "text/plain"), ("scan.dcm", "application/dicom")])
def test_safe_types_are_shown_in_place_still_sandboxed(http: httpx.Client, path: str, shown: str) -> None:
    for response in downloads(http, path):
        assert response.headers["content-type"] == shown
        assert "content-disposition" not in response.headers
        assert response.headers["content-security-policy"] == SANDBOX
    assert downloads(http, path)[0].content == PAGE


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bundles_are_sandboxed_bytes(http: httpx.Client) -> None:
    bundle = http.post(f"{DS}/refs/main/bundle", json={"paths": ["steal.html"]})
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/octet-stream"
    assert bundle.headers["content-security-policy"] == SANDBOX
    assert bundle.content.endswith(PAGE)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_portal_pages_keep_their_own_policy(http: httpx.Client) -> None:
    page = httpx.get(f"{http.base_url}/lab/pub", follow_redirects=True)  # a visitor, signed out
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
