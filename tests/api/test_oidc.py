"""OpenID Connect sign-in against a real provider (npm oidc-provider) on loopback."""

from __future__ import annotations

from pathlib import Path

import httpx

from imagehub.services import audit
from imagehub_api.app import create_app
from tests.support.live_server import live_server
from tests.support.oidc import complete_login, run_oidc_provider
from tests.support.platforms import migrated_platform
from tests.support.ports import free_port


def sign_in(base: str, login: str) -> httpx.Client:
    http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    start = http.get("/api/v1/auth/oidc/login")
    assert start.status_code in (302, 307), start.text
    callback = complete_login(start.headers["location"], login)
    assert callback.startswith(f"{base}/api/v1/auth/oidc/callback")
    finish = http.get(callback)
    assert finish.status_code == 303, finish.text
    assert "imagehub_session" in finish.headers["set-cookie"]
    return http


def test_oidc_login_creates_then_reuses_the_account(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with run_oidc_provider("imagehub", "oidc-test-secret", f"{base}/api/v1/auth/oidc/callback") as issuer:
        oidc = {"oidc_issuer": issuer, "oidc_client_id": "imagehub", "oidc_client_secret": "oidc-test-secret"}
        with migrated_platform(tmp_path, database_url, **oidc) as platform:
            with live_server(create_app(platform), port=port):
                assert 'href="/api/v1/auth/oidc/login?next=' in httpx.get(f"{base}/login").text
                first = sign_in(base, "carol")
                me = first.get("/api/v1/auth/me").json()
                assert me["username"] == "carol"
                assert me["email"] == "carol@example.org"
                assert me["full_name"] == "User carol"
                again = sign_in(base, "carol").get("/api/v1/auth/me").json()
                assert again["username"] == "carol"  # the same account, not carol-2
                tampered = httpx.get(f"{base}/api/v1/auth/oidc/callback?code=forged&state=forged")
                assert tampered.status_code == 401
                assert "identity provider" in tampered.json()["detail"]
                assert "imagehub_session" not in tampered.headers.get("set-cookie", "")
            with platform.sessions() as session:
                logins = audit.search(session, action="auth.login", limit=10)
            assert [(e.actor, e.details["oidc"]) for e in logins] == [("carol", issuer)] * 2


def test_oidc_routes_say_when_not_configured(tmp_path: Path) -> None:
    with migrated_platform(tmp_path) as platform, live_server(create_app(platform)) as base:
        response = httpx.get(f"{base}/api/v1/auth/oidc/login")
        form = httpx.get(f"{base}/login").text
    assert "oidc/login" not in form  # the sign-in page offers no single sign-on
    assert response.status_code == 404
    assert "not configured" in response.json()["detail"]


def test_an_unreachable_provider_answers_503(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    oidc = {"oidc_issuer": nobody, "oidc_client_id": "imagehub", "oidc_client_secret": "s"}
    with migrated_platform(tmp_path, **oidc) as platform, live_server(create_app(platform)) as base:
        response = httpx.get(f"{base}/api/v1/auth/oidc/login")
    assert response.status_code == 503
    assert "cannot be reached now" in response.json()["detail"]
