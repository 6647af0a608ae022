"""Signing in and out of the portal, and stating a purpose of use before opening PHI."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from imagehub.services import accounts, audit
from imagehub.services.access import Forbidden
from imagehub.services.platform import Platform
from imagehub_api.deps import PlatformDep, PrincipalDep, SessionDep
from imagehub_api.routes.auth import login_user
from imagehub_api.security import PURPOSE_COOKIE, SESSION_COOKIE, Policy, client_ip, requires
from imagehub_api.urls import safe_next
from imagehub_api.web.forms import form_page
from imagehub_api.web.render import SUBMITTED, Submitted, page

router = APIRouter(include_in_schema=False)


class CrossSiteSignIn(Forbidden):
    """Another site posted our sign-in form (login CSRF: signing a victim into an attacker's account)."""


def same_origin(request: Request) -> bool:
    """Whether a form post came from our own pages. Browsers send Sec-Fetch-Site; with our
    no-referrer policy their Origin is "null", so Origin decides only for older browsers."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin", "null")
    return origin == "null" or origin == str(request.base_url).rstrip("/")


def login_page(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """The sign-in form; it offers single sign-on only where OIDC is configured."""
    platform: Platform = request.app.state.platform
    sso = platform.settings.oidc_enabled
    return page(request, "login.html", {**context, "sso": sso}, status_code=status_code)


@router.get("/login", response_class=HTMLResponse, operation_id="portal-login-form", response_model=None)
@requires(Policy.PUBLIC)
def login_form(request: Request, principal: PrincipalDep, next: str = "/") -> Response:
    """A signed-in visitor goes straight on to where the form would have sent them."""
    if not principal.anonymous:
        return RedirectResponse(safe_next(next), status_code=303)
    return login_page(request, {"next": safe_next(next)})


@router.post("/login", response_class=HTMLResponse, operation_id="portal-login")
@requires(Policy.PUBLIC)
@form_page("/login?next={next}")
def login(
    request: Request,
    session: SessionDep,
    platform: PlatformDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not same_origin(request):
        raise CrossSiteSignIn("sign-in forms are accepted only from this site")
    redirect = RedirectResponse(safe_next(next), status_code=303)
    try:
        login_user(request, redirect, session, platform, username, password)
    except accounts.AuthenticationFailed:
        typed = {"username": username, "next": next}
        setattr(request.state, SUBMITTED, Submitted(request.url.path, typed, "Wrong username or password."))
        return login_page(request, {"next": safe_next(next)}, status_code=401)
    return redirect


@router.post("/logout", operation_id="portal-logout")
@requires(Policy.AUTHENTICATED)
def logout(request: Request, session: SessionDep) -> RedirectResponse:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.close_session(session, cookie)
    redirect = RedirectResponse("/login", status_code=303)
    redirect.delete_cookie(SESSION_COOKIE, path="/")
    redirect.delete_cookie(PURPOSE_COOKIE, path="/")
    return redirect


@router.post("/purpose", operation_id="portal-state-purpose")
@requires(Policy.AUTHENTICATED)
def state_purpose(
    request: Request,
    session: SessionDep,
    platform: PlatformDep,
    principal: PrincipalDep,
    purpose: Annotated[str, Form(min_length=3, max_length=200)],
    next: Annotated[str, Form()] = "/",
) -> RedirectResponse:
    """Remember the purpose for this browser session; every PHI access still records it."""
    audit.record(
        session, actor=principal.username, action="purpose.state", ip=client_ip(request), purpose=purpose
    )
    redirect = RedirectResponse(safe_next(next), status_code=303)
    secure = platform.settings.secure_cookies
    # Percent-encoded: a purpose may be in any script, a cookie value only in ASCII.
    redirect.set_cookie(
        PURPOSE_COOKIE, quote(purpose.strip()), httponly=True, samesite="lax", path="/", secure=secure
    )
    return redirect
