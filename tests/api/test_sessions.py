"""Browser sessions that end (expired, signed out, a new password): a browser still sending
their cookie is a visitor, not locked out, and no session outlives its password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from imagehub.cli.main import app
from imagehub.models.accounts import WebSession
from imagehub.services import accounts
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import PASSWORD, bearer, make_user
from tests.support.live_server import live_server

SIGN_IN = {"username": "alice", "password": PASSWORD}


@pytest.fixture
def base(platform: Platform) -> Iterator[str]:
    make_user(platform, "alice")
    with live_server(create_app(platform)) as url:
        yield url


def end_every_session(platform: Platform) -> None:
    """What a server restart with a wiped table, an expiry or a sign-out elsewhere leaves."""
    with platform.sessions.begin() as session:
        session.execute(delete(WebSession))


def test_an_ended_session_cookie_is_a_visitor_and_is_cleared(base: str, platform: Platform) -> None:
    with httpx.Client(base_url=base) as http:
        assert http.post("/api/v1/auth/login", json=SIGN_IN).status_code == 200
        end_every_session(platform)
        health = http.get("/api/v1/health")
        assert health.status_code == 200
        assert 'imagehub_session=""' in health.headers["set-cookie"]
        assert "imagehub_session" not in http.cookies  # the browser dropped it
        assert http.get("/api/v1/auth/me").status_code == 401  # signed out, as it should be


def test_the_portal_sends_a_browser_with_an_ended_session_to_the_sign_in_page(
    base: str, platform: Platform
) -> None:
    with httpx.Client(base_url=base, follow_redirects=True, max_redirects=5) as http:
        signed_in = http.post(
            "/login", data={**SIGN_IN, "next": "/"}, headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert signed_in.status_code == 200
        end_every_session(platform)
        form = http.get("/new")
        assert form.status_code == 200
        assert str(form.url).endswith("/login?next=%2Fnew")
        again = http.post(
            "/login", data={**SIGN_IN, "next": "/new"}, headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert again.status_code == 200
        assert str(again.url).endswith("/new")
        assert http.get("/api/v1/auth/me").json()["username"] == "alice"


def test_signing_in_over_an_ended_session_keeps_the_new_one(base: str, platform: Platform) -> None:
    with httpx.Client(base_url=base, cookies={"imagehub_session": "stale"}) as http:
        signed_in = http.post("/api/v1/auth/login", json=SIGN_IN)
        assert signed_in.status_code == 200
        assert len(signed_in.headers.get_list("set-cookie")) == 2  # the session, and the purpose cleared
        assert http.get("/api/v1/auth/me").json()["username"] == "alice"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bad_token_is_refused_only_where_a_sign_in_is_needed(base: str) -> None:
    with httpx.Client(base_url=base, headers=bearer("ihp_revoked")) as http:
        assert http.get("/api/v1/health").status_code == 200
        assert http.get("/login").status_code == 200
        assert http.get("/api/v1/auth/me").status_code == 401


def test_a_new_password_ends_every_browser_session_but_keeps_tokens(
    base: str, platform: Platform, tmp_path: Path, database_url: str
) -> None:
    make_user(platform, "bob")
    with platform.sessions.begin() as session:
        alice = accounts.get_user(session, "alice")
        token = accounts.create_token(session, user=alice, name="script", scope="read", actor="test").secret
    laptop, stolen, bobs = (httpx.Client(base_url=base) for _ in range(3))
    with laptop, stolen, bobs:
        for browser in (laptop, stolen):
            assert browser.post("/api/v1/auth/login", json=SIGN_IN).status_code == 200
        assert bobs.post("/api/v1/auth/login", json={**SIGN_IN, "username": "bob"}).status_code == 200
        env = {"IMAGEHUB_DATA_DIR": str(tmp_path / "var"), "IMAGEHUB_DATABASE_URL": database_url}
        args = ["user", "passwd", "alice", "--password-stdin"]
        changed = CliRunner().invoke(app, args, input="a brand new passphrase\n", env=env)
        assert changed.exit_code == 0, changed.output
        assert "browser sessions are ended" in changed.output
        for browser in (laptop, stolen):
            assert browser.get("/api/v1/auth/me").status_code == 401
        assert bobs.get("/api/v1/auth/me").json()["username"] == "bob"  # only alice's sessions end
        assert httpx.get(f"{base}/api/v1/auth/me", headers=bearer(token)).status_code == 200
        again = laptop.post("/api/v1/auth/login", json={**SIGN_IN, "password": "a brand new passphrase"})
        assert again.status_code == 200
        assert laptop.get("/api/v1/auth/me").json()["username"] == "alice"
