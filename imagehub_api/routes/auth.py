"""Sign-in (password and OIDC), sign-out, the current user, API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse
from joserfc.errors import JoseError
from pydantic import BaseModel, Field

from imagehub.core.auth.policy import Role
from imagehub.core.auth.ratelimit import RateLimiter
from imagehub.core.errors import NotFound
from imagehub.services import access, accounts, audit
from imagehub.services.platform import Platform
from imagehub_api.deps import PlatformDep, PrincipalDep, SessionDep
from imagehub_api.errors import ServiceUnavailable, TooManyAttempts
from imagehub_api.oidc import OIDC_NAME, callback_url, checked_issuer, claims_options, oidc_client
from imagehub_api.security import PURPOSE_COOKIE, SESSION_COOKIE, Policy, client_ip, requires
from imagehub_api.urls import safe_next

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Login(BaseModel):
    username: str
    password: str


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scope: str = Field("read", pattern="^(read|write|admin)$")
    dataset: str | None = Field(None, description="Limit the token to one dataset, as owner/name")
    expires_in_days: int | None = Field(90, ge=1, le=3650)


def _limit(request: Request, bucket: str) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    if not limiter.allow(f"{bucket}:{client_ip(request)}"):
        raise TooManyAttempts("too many attempts: wait a minute and try again")


def _start_session(response: Response, platform: Platform, session: Any, user: Any) -> dict[str, Any]:
    opened = accounts.open_session(session, user=user, hours=platform.settings.session_hours)
    response.set_cookie(
        SESSION_COOKIE,
        opened.cookie,
        max_age=int(platform.settings.session_hours * 3600),
        httponly=True,
        secure=platform.settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    response.delete_cookie(PURPOSE_COOKIE, path="/")  # a purpose is stated by each person, each session
    return {
        "username": user.username,
        "csrf_token": opened.csrf_token,
        "expires_at": opened.expires_at.isoformat(),
    }


def login_user(
    request: Request, response: Response, session: Any, platform: Platform, username: str, password: str
) -> dict[str, Any]:
    """Check a password sign-in (rate-limited, audited either way) and open a cookie session."""
    _limit(request, "login")
    try:
        user = accounts.authenticate(session, username=username, password=password)
    except accounts.AuthenticationFailed:
        with platform.sessions.begin() as own:  # the failure is on record even though this request fails
            audit.record(own, actor=username[:64], action="auth.login_failed", ip=client_ip(request))
        raise
    audit.record(session, actor=user.username, action="auth.login", ip=client_ip(request))
    return _start_session(response, platform, session, user)


@router.post("/login", operation_id="auth-login")
@requires(Policy.PUBLIC)
def login(
    body: Login, request: Request, response: Response, session: SessionDep, platform: PlatformDep
) -> dict[str, Any]:
    """Password sign-in: sets an HttpOnly session cookie; writes must echo ``csrf_token``."""
    return login_user(request, response, session, platform, body.username, body.password)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, operation_id="auth-logout")
@requires(Policy.AUTHENTICATED)
def logout(request: Request, response: Response, session: SessionDep) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.close_session(session, cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", operation_id="auth-me")
@requires(Policy.AUTHENTICATED)
def me(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    user = accounts.get_user(session, principal.username)
    return {
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "is_admin": user.is_admin,
        "token_scope": principal.token_scope.name.lower() if principal.token_scope else None,
    }


@router.post("/tokens", status_code=status.HTTP_201_CREATED, operation_id="auth-create-token")
@requires(Policy.AUTHENTICATED)
def create_token(
    body: TokenCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    """A scoped API token for the caller. The secret is in this response only."""
    _limit(request, "token")
    dataset_id = None
    if body.dataset:
        owner, _, name = body.dataset.partition("/")
        found = access.decide(session, principal, owner=owner, name=name, need=Role.READ, refs=[], purpose="")
        dataset_id = found.dataset.id
    if not principal.may_issue(Role.parse(body.scope), dataset_id):
        raise access.Forbidden("an API token can only issue tokens no wider than itself (scope and dataset)")
    issued = accounts.create_token(
        session,
        user=accounts.get_user(session, principal.username),
        name=body.name,
        scope=body.scope,
        actor=principal.username,
        dataset_id=dataset_id,
        expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    return {
        "id": issued.token.id,
        "token": issued.secret,
        "scope": issued.token.scope,
        "expires_at": issued.token.expires_at.isoformat() if issued.token.expires_at else None,
    }


@router.get("/tokens", operation_id="auth-list-tokens")
@requires(Policy.AUTHENTICATED)
def list_tokens(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """The caller's tokens: for a session or an unrestricted token only."""
    if not principal.unrestricted:
        raise access.Forbidden("listing tokens needs a session or an unrestricted admin token")
    tokens = accounts.list_tokens(session, accounts.get_user(session, principal.username))
    return {
        "results": [
            {
                "id": t.id,
                "name": t.name,
                "scope": t.scope,
                "dataset_id": t.dataset_id,
                "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in tokens
        ]
    }


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="auth-revoke-token")
@requires(Policy.AUTHENTICATED)
def revoke_token(token_id: int, principal: PrincipalDep, session: SessionDep) -> None:
    """A session or an unrestricted token revokes any of the caller's tokens; a narrower
    token only itself."""
    if not principal.may_revoke(token_id):
        raise access.Forbidden("a restricted token may revoke only itself: use a session or an admin token")
    user = accounts.get_user(session, principal.username)
    accounts.revoke_token(
        session, user=user, token_id=token_id, actor=principal.username, any_user=principal.site_admin
    )


NEXT_KEY = "imagehub_oidc_next"  # where the browser goes after signing in, kept with the state
UNREACHABLE = "the OpenID Connect provider cannot be reached now: try again later"
REFUSED = "sign-in with the identity provider failed"


@router.get("/oidc/login", operation_id="auth-oidc-login")
@requires(Policy.PUBLIC)
async def oidc_login(request: Request, platform: PlatformDep, next: str = "/") -> Response:
    """Send the browser to the configured OpenID Connect provider."""
    client = oidc_client(request.app)
    if client is None:
        raise NotFound("OIDC sign-in is not configured on this server")
    settings = platform.settings
    try:
        await checked_issuer(client, settings)
        request.session[NEXT_KEY] = safe_next(next)
        return await client.authorize_redirect(request, callback_url(request))  # type: ignore[no-any-return]
    except httpx.HTTPError:
        raise ServiceUnavailable(UNREACHABLE) from None
    except ValueError as exc:  # a discovery document that is not JSON, or names another issuer
        raise ServiceUnavailable(f"the OpenID Connect provider is misconfigured: {exc}") from None


@router.get("/oidc/callback", name="auth-oidc-callback", operation_id="auth-oidc-callback")
@requires(Policy.PUBLIC)
async def oidc_callback(request: Request, platform: PlatformDep) -> Response:
    """Finish the provider's sign-in: link or create the account, open a session. Any token
    the provider's answer does not prove is a refused sign-in (401), never an error page."""
    client = oidc_client(request.app)
    if client is None:
        raise NotFound("OIDC sign-in is not configured on this server")
    settings = platform.settings
    try:
        issuer = await checked_issuer(client, settings)
        token = await client.authorize_access_token(request, claims_options=claims_options(issuer, settings))
    except OAuthError as exc:
        raise accounts.AuthenticationFailed(f"{REFUSED}: {exc.error}") from exc
    except httpx.HTTPError:
        raise ServiceUnavailable(UNREACHABLE) from None
    except (JoseError, ValueError) as exc:  # a forged, expired or misdirected ID token; a garbled answer
        raise accounts.AuthenticationFailed(
            f"{REFUSED}: its answer was refused ({type(exc).__name__})"
        ) from None
    claims = token.get("userinfo") or {}
    if not claims.get("sub"):
        raise accounts.AuthenticationFailed(f"{REFUSED}: it sent no ID token (is 'openid' among the scopes?)")
    redirect = RedirectResponse(
        safe_next(request.session.pop(NEXT_KEY, "/")), status_code=status.HTTP_303_SEE_OTHER
    )
    configured = str(settings.oidc_issuer)
    with platform.sessions.begin() as session:
        user = accounts.link_oidc_user(
            session,
            issuer=configured,
            subject=str(claims["sub"]),
            email=str(claims.get("email", "")),
            full_name=str(claims.get("name", "")),
            preferred=str(claims.get("preferred_username", "")),
        )
        audit.record(
            session,
            actor=user.username,
            action="auth.login",
            ip=client_ip(request),
            details={"oidc": configured},
        )
        _start_session(redirect, platform, session, user)
    request.session.pop(f"_state_{OIDC_NAME}", None)
    return redirect
