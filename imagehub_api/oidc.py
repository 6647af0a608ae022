"""The OpenID Connect client (Authlib), registered when the settings name a provider."""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import FastAPI, Request

from imagehub.core.config import Settings
from imagehub_api.urls import public_base

OIDC_NAME = "oidc"
CALLBACK_PATH = "/api/v1/auth/oidc/callback"


def register_oidc(app: FastAPI, settings: Settings) -> None:
    if not settings.oidc_enabled:
        app.state.oidc = None
        return
    with warnings.catch_warnings():  # Authlib announces its httpx → httpx2 move on import
        warnings.filterwarnings("ignore", message="The httpx module is deprecated")
        from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    oauth.register(
        OIDC_NAME,
        client_id=settings.oidc_client_id,
        client_secret=secret,
        server_metadata_url=f"{str(settings.oidc_issuer).rstrip('/')}/.well-known/openid-configuration",
        # PKCE too: a code caught on its way back is no use without this sign-in's verifier
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
    )
    app.state.oidc = oauth


def oidc_client(app: FastAPI) -> Any:
    oauth = app.state.oidc
    return None if oauth is None else oauth.create_client(OIDC_NAME)


def callback_url(request: Request) -> str:
    """Where the provider sends the browser back: under the public URL when one is set (the
    address registered with the provider), not from a Host header a client chose."""
    return public_base(request) + CALLBACK_PATH


async def checked_issuer(client: Any, settings: Settings) -> str:
    """The provider's issuer, once it is the configured one: tokens of another (a second
    tenant of the same service, say) would land on this issuer's accounts."""
    metadata = await client.load_server_metadata()
    named, configured = str(metadata.get("issuer", "")), str(settings.oidc_issuer)
    if named.rstrip("/") != configured.rstrip("/"):
        raise ValueError(f"the provider calls itself {named!r}, not the configured issuer {configured!r}")
    return named


def claims_options(issuer: str, settings: Settings) -> dict[str, Any]:
    """An ID token must come from the issuer and be meant for this server (OIDC Core 3.1.3.7)."""
    return {
        "iss": {"essential": True, "values": [issuer]},
        "aud": {"essential": True, "values": [settings.oidc_client_id]},
    }
