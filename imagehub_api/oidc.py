"""The OpenID Connect client (Authlib), registered when the settings name a provider."""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import FastAPI

from imagehub.core.config import Settings

OIDC_NAME = "oidc"


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
        client_kwargs={"scope": settings.oidc_scopes},
    )
    app.state.oidc = oauth


def oidc_client(app: FastAPI) -> Any:
    oauth = app.state.oidc
    return None if oauth is None else oauth.create_client(OIDC_NAME)
