"""Dataset files are the uploader's bytes: every route that sends them keeps a browser from
running them as the portal (stored XSS through a chosen media type)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from imagehub.core.vcs import ChangeSet, Entry
from imagehub.services import datasets
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
    "empty-parameter.txt": "text/plain; charset=utf-8;",  # RFC 9110 allows an empty one
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


@pytest.mark.parametrize(
    ("path", "shown"),
    [("notes.txt", "text/plain"), ("empty-parameter.txt", "text/plain"), ("scan.dcm", "application/dicom")],
)
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


BAD_TYPES = [
    "text/plain\r\nSet-Cookie: imagehub_session=attacker",
    "text/" + "x" * 300,
    "text/html\u00e9",
    "",
    "text",
]


@pytest.mark.parametrize("media_type", BAD_TYPES)
def test_a_media_type_no_header_can_carry_is_refused_at_commit(http: httpx.Client, media_type: str) -> None:
    blob = hashlib.sha256(PAGE).hexdigest()
    put = {"path": "odd.txt", "blob": blob, "size": len(PAGE), "media_type": media_type}
    refused = http.post(f"{DS}/branches/main/commits", json={"message": "odd", "changes": {"put": [put]}})
    assert refused.status_code == 422
    assert "media type is type/subtype" in refused.text
    assert http.get(f"{DS}/refs/main/objects/stat", params={"path": "odd.txt"}).status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_lakefs_uploads_refuse_such_a_content_type(http: httpx.Client) -> None:
    objects = "/lakefs/lab/api/v1/repositories/pub/branches/main/objects"
    for media_type in (b"text/" + b"x" * 300, "text/html\u00e9".encode("latin-1")):
        refused = http.post(
            objects, params={"path": "odd.txt"}, content=PAGE, headers={"Content-Type": media_type}
        )
        assert refused.status_code == 400, refused.text  # lakeFS answers bad input with 400
        assert "media type is type/subtype" in refused.text
    made = http.post(objects, params={"path": "odd.txt"}, content=PAGE, headers={"Content-Type": "text/csv"})
    assert made.status_code == 201
    assert made.json()["content_type"] == "text/csv"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_type_stored_before_the_check_still_downloads(platform: Platform, http: httpx.Client) -> None:
    with platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="pub"))
        blob = hashlib.sha256(PAGE).hexdigest()
        changes = ChangeSet().put(Entry("old.txt", blob, len(PAGE), BAD_TYPES[0]))
        repo.commit("main", changes, author="lab", message="from before the check")
    for response in downloads(http, "old.txt"):
        assert response.status_code in (200, 206)
        assert response.headers["content-type"] == "application/octet-stream"
        assert "set-cookie" not in response.headers
