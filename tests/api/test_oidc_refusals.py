"""What the OpenID Connect sign-in refuses: ID tokens that are forged, expired or meant for
another client or issuer are a 401 (never an error page), and a provider failing is a 503."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.forging_provider import Provider, forging_provider
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform
from tests.support.ports import free_port


@pytest.fixture
def provider() -> Iterator[Provider]:
    with forging_provider(free_port()) as running:
        yield running


@pytest.fixture
def platform(tmp_path: Path, provider: Provider) -> Iterator[Platform]:
    oidc = {"oidc_issuer": provider.issuer, "oidc_client_id": "imagehub", "oidc_client_secret": "s"}
    with migrated_platform(tmp_path, public_url="https://hub.example.org", **oidc) as built:
        yield built


@pytest.fixture
def base(platform: Platform) -> Iterator[str]:
    with live_server(create_app(platform)) as url:
        yield url


def sign_in(base: str, next_page: str = "/") -> httpx.Response:
    """The browser's part: to the provider and back, the callback's answer."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as browser:
        start = browser.get("/api/v1/auth/oidc/login", params={"next": next_page})
        assert start.status_code in (302, 307), start.text
        back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
        callback = back.replace("https://hub.example.org", base)  # the proxy in front of the server
        return browser.get(callback)


def test_a_true_token_signs_in_and_goes_where_the_user_was_going(base: str, provider: Provider) -> None:
    finish = sign_in(base, "/lab/brain")
    assert finish.status_code == 303, finish.text
    assert finish.headers["location"] == "/lab/brain"
    assert "imagehub_session" in finish.headers["set-cookie"]
    assert provider.redirects == ["https://hub.example.org/api/v1/auth/oidc/callback"]  # not the Host header
    assert provider.challenges == ["S256"]  # PKCE


@pytest.mark.parametrize(
    "forge",
    [
        {"other_key": True},
        {"aud": "another-client"},
        {"iss": "https://another-tenant.example"},
        {"exp": int(time.time()) - 3600},
        {"no_nonce": True},
        {"no_id_token": True},
    ],
    ids=["signed-by-another-key", "another-audience", "another-issuer", "expired", "no-nonce", "no-id-token"],
)
def test_a_forged_or_misdirected_token_is_refused(
    base: str, provider: Provider, forge: dict[str, Any]
) -> None:
    provider.forge = forge
    finish = sign_in(base)
    assert finish.status_code == 401, finish.text
    assert finish.json()["detail"].startswith("sign-in with the identity provider failed")
    assert "imagehub_session" not in finish.headers.get("set-cookie", "")


def test_a_provider_that_fails_to_answer_is_a_503(base: str, provider: Provider) -> None:
    provider.forge = {"token_status": 500}
    finish = sign_in(base)
    assert finish.status_code == 503
    assert "cannot be reached now" in finish.json()["detail"]


def test_a_provider_naming_another_issuer_is_not_used(base: str, provider: Provider) -> None:
    provider.named_issuer = "https://another-tenant.example"
    start = httpx.get(f"{base}/api/v1/auth/oidc/login", follow_redirects=False)
    assert start.status_code == 503
    assert (
        "calls itself 'https://another-tenant.example', not the configured issuer" in start.json()["detail"]
    )
