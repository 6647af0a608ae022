"""Sign-in, sessions with CSRF, API tokens, rate limits, headers and size caps, on a live server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imagehub.services import accounts, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from imagehub_api.headers import PAGE_CSP
from tests.support.accounts import PASSWORD, bearer, make_user
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform


@pytest.fixture
def base(platform: Platform) -> Iterator[str]:
    make_user(platform, "alice")
    with live_server(create_app(platform)) as url:
        yield url


def login(http: httpx.Client, username: str = "alice", password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_password_session_and_csrf(base: str) -> None:
    with httpx.Client(base_url=base) as http:
        assert login(http, password="wrong password!").status_code == 401
        response = login(http)
        assert response.status_code == 200
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        csrf = response.json()["csrf_token"]
        assert http.get("/api/v1/auth/me").json()["username"] == "alice"
        body = {"owner": "alice", "name": "scans"}
        refused = http.post("/api/v1/datasets", json=body)
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["detail"]
        assert http.post("/api/v1/datasets", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
        assert http.post("/api/v1/datasets", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
        form_without = http.post("/api/v1/auth/tokens", data={"name": "x"})
        assert form_without.status_code == 403  # a form post is checked too ...
        form_with = http.post("/api/v1/auth/tokens", data={"name": "x", "csrf_token": csrf})
        assert (
            form_with.status_code == 422
        )  # ... and passes the gate with its hidden field (JSON expected here)
        assert http.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert http.get("/api/v1/auth/me").status_code == 401


def test_tokens_are_scoped_shown_once_and_revocable(base: str, platform: Platform) -> None:
    with httpx.Client(base_url=base) as http:
        csrf = login(http).json()["csrf_token"]
        http.post(
            "/api/v1/datasets", json={"owner": "alice", "name": "scans"}, headers={"X-CSRF-Token": csrf}
        )
        made = http.post(
            "/api/v1/auth/tokens", json={"name": "ci", "scope": "read"}, headers={"X-CSRF-Token": csrf}
        )
        assert made.status_code == 201
        secret, token_id = made.json()["token"], made.json()["id"]
        listed = http.get("/api/v1/auth/tokens").json()["results"]
        assert secret not in str(listed)  # shown once, never again
    with platform.sessions() as session:
        stored = accounts.list_tokens(session, accounts.get_user(session, "alice"))
        assert all(secret not in t.secret_hash and t.secret_hash != secret for t in stored)
        assert any(t.secret_hash == hashlib.sha256(secret.encode()).hexdigest() for t in stored)
    ds = f"{base}/api/v1/datasets/alice/scans"
    assert httpx.get(ds, headers=bearer(secret)).status_code == 200
    write = httpx.post(f"{ds}/branches", json={"name": "b", "source": "main"}, headers=bearer(secret))
    assert write.status_code == 403  # a read token cannot write, whatever its owner may do
    owner_token = make_user(platform, "bob")
    assert httpx.get(ds, headers=bearer(owner_token)).status_code == 404  # private: not even its existence
    with httpx.Client(base_url=base) as http:
        csrf = login(http).json()["csrf_token"]
        assert (
            http.delete(f"/api/v1/auth/tokens/{token_id}", headers={"X-CSRF-Token": csrf}).status_code == 204
        )
    assert httpx.get(ds, headers=bearer(secret)).status_code == 401
    assert httpx.get(ds, headers=bearer("ihp_made-up")).status_code == 401
    assert httpx.get(ds, headers={"Authorization": "Basic abc"}).status_code == 401


def test_login_is_rate_limited(tmp_path: Path, database_url: str) -> None:
    with (
        migrated_platform(tmp_path, database_url, login_attempts_per_minute=3) as platform,
        live_server(create_app(platform)) as url,
        httpx.Client(base_url=url) as http,
    ):
        codes = [login(http, "nobody", "wrong password!").status_code for _ in range(5)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


def test_security_headers_and_upload_cap(tmp_path: Path, database_url: str) -> None:
    with migrated_platform(tmp_path, database_url, max_upload_bytes=1024) as platform:
        check_headers_cap_and_paths(platform)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_security_headers_on_uploads_errors_docs_and_https(tmp_path: Path, database_url: str) -> None:
    with (
        migrated_platform(tmp_path, database_url, cookie_secure=True) as platform,
        live_server(create_app(platform)) as url,
    ):
        token = make_user(platform, "alice")
        with platform.sessions.begin() as session:
            datasets.create(session, owner="alice", name="d", author="alice")
        content = b"z" * 5000
        blob = hashlib.sha256(content).hexdigest()
        put = httpx.put(f"{url}/api/v1/datasets/alice/d/blobs/{blob}", content=content, headers=bearer(token))
        missing = httpx.get(f"{url}/api/v1/datasets/alice/nope", headers=bearer(token))
        for response in (put, missing, httpx.get(f"{url}/api/v1/health")):
            assert response.headers["strict-transport-security"].startswith("max-age=")
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["cache-control"] == "no-store"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert (put.status_code, missing.status_code) == (201, 404)
        docs = httpx.get(f"{url}/api/docs")
        assert docs.status_code == 200
        assert docs.headers["content-security-policy"] == PAGE_CSP  # Swagger UI is served from here
        assert docs.headers["x-content-type-options"] == "nosniff"


def check_headers_cap_and_paths(platform: Platform) -> None:
    token = make_user(platform, "alice")
    with platform.sessions.begin() as session:
        datasets.create(session, owner="alice", name="d", author="alice")
    with live_server(create_app(platform)) as url:
        health = httpx.get(f"{url}/api/v1/health")
        for header in (
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy",
            "referrer-policy",
        ):
            assert header in health.headers
        big = b"x" * 2048
        blob = hashlib.sha256(big).hexdigest()
        response = httpx.put(
            f"{url}/api/v1/datasets/alice/d/blobs/{blob}", content=big, headers=bearer(token)
        )
        assert response.status_code == 413
        streamed = httpx.put(  # no declared length: refused part way through the body
            f"{url}/api/v1/datasets/alice/d/blobs/{blob}",
            content=iter([big[:1000], big[1000:]]),
            headers=bearer(token),
        )
        assert streamed.status_code == 413
        empty = httpx.put(
            f"{url}/api/v1/datasets/alice/d/blobs/{hashlib.sha256(b'').hexdigest()}",
            content=b"",
            headers=bearer(token),
        )
        assert empty.status_code == 201
        small = b"y" * 100
        ok = httpx.put(
            f"{url}/api/v1/datasets/alice/d/blobs/{hashlib.sha256(small).hexdigest()}",
            content=small,
            headers=bearer(token),
        )
        assert ok.status_code == 201
        for evil in ("../../etc/passwd", "a/../../b", "/etc/passwd"):
            listing = httpx.get(
                f"{url}/api/v1/datasets/alice/d/refs/main/objects/content",
                params={"path": evil},
                headers=bearer(token),
            )
            assert listing.status_code == 404
            assert b"root:" not in listing.content


def test_a_restricted_token_lists_no_tokens_and_revokes_only_itself(base: str, platform: Platform) -> None:
    with platform.sessions.begin() as session:
        alice = accounts.get_user(session, "alice")
        scans = datasets.create(session, owner="alice", name="scans", author="alice")
        made = {
            name: accounts.create_token(session, user=alice, name=name, scope=scope, actor="test", **limit)
            for name, scope, limit in (
                ("admin", "admin", {}),
                ("read", "read", {}),
                ("write", "write", {}),
                ("scans", "admin", {"dataset_id": scans.id}),
            )
        }
    ids = {name: issued.token.id for name, issued in made.items()}
    admin, read = bearer(made["admin"].secret), bearer(made["read"].secret)
    tokens = f"{base}/api/v1/auth/tokens"
    for restricted in (read, bearer(made["scans"].secret)):
        assert httpx.get(tokens, headers=restricted).status_code == 403
        assert httpx.delete(f"{tokens}/{ids['admin']}", headers=restricted).status_code == 403
    assert httpx.get(f"{base}/api/v1/auth/me", headers=admin).status_code == 200  # still valid
    assert set(made) <= {t["name"] for t in httpx.get(tokens, headers=admin).json()["results"]}
    assert httpx.delete(f"{tokens}/{ids['write']}", headers=admin).status_code == 204
    assert httpx.delete(f"{tokens}/{ids['read']}", headers=read).status_code == 204  # itself: a leak ends
    assert httpx.get(f"{base}/api/v1/auth/me", headers=read).status_code == 401
