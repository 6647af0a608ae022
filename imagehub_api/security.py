"""The single enforcement point: every route, whatever its kind, is authorised here.

Routes declare what they need with ``@requires(Policy.X)``; a route that declares
nothing is for site administrators only (deny by default). The dependency runs for
every request the app serves, resolves the caller (API token or session cookie),
checks CSRF on cookie-authenticated writes, and for dataset routes asks
``services.access.decide`` with every ref the request names, PHI branches included.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import json
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import unquote

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from imagehub.core.auth.policy import ANONYMOUS, Principal, Role
from imagehub.core.auth.secrets import same
from imagehub.core.errors import InvalidInput
from imagehub.services import access, accounts, audit
from imagehub.services.platform import Platform

SESSION_COOKIE = "imagehub_session"
STALE_SESSION = "stale_session"  # request state: the cookie sent opens no session, so clear it
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
PURPOSE_HEADER = "X-Purpose-Of-Use"
PURPOSE_COOKIE = "imagehub_purpose"  # the portal's stated purpose, for a browser session
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
REF_FIELDS = ("ref", "branch", "left", "right", "source", "destination", "target", "commit", "src_ref")
_POLICY_ATTR = "__imagehub_policy__"
_READS_ONLY_ATTR = "__imagehub_changes_nothing__"
F = TypeVar("F", bound=Callable[..., Any])


class Policy(Enum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    DATASET_READ = Role.READ
    DATASET_WRITE = Role.WRITE
    DATASET_ADMIN = Role.ADMIN
    SITE_ADMIN = "site-admin"


class NotSignedIn(accounts.AuthenticationFailed):
    pass


class CsrfFailed(access.Forbidden):
    pass


class SiteAdminOnly(access.Forbidden):
    pass


def requires(policy: Policy, *, changes_nothing: bool = False) -> Callable[[F], F]:
    """``changes_nothing`` marks a POST that only reads (its question does not fit a URL):
    an anonymous caller may send it to a public dataset, as it may any GET."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _POLICY_ATTR, policy)
        setattr(endpoint, _READS_ONLY_ATTR, changes_nothing)
        return endpoint

    return mark


def policy_of(endpoint: object) -> Policy:
    return getattr(endpoint, _POLICY_ATTR, Policy.SITE_ADMIN)


def anonymous_may_call(endpoint: object, method: str) -> bool:
    """Whether a caller who has not signed in may reach the access decision: reads of a
    dataset only (its visibility decides); a comment or any other write needs an account."""
    reads = method in SAFE_METHODS or getattr(endpoint, _READS_ONLY_ATTR, False)
    return policy_of(endpoint) is Policy.DATASET_READ and reads


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _resolve_principal(platform: Platform, request: Request) -> tuple[Principal, str | None]:
    """The caller and, for cookie sessions, the CSRF token their writes must echo. A session
    cookie that no longer opens a session is a visitor's: ended sessions must not lock a
    browser out of the sign-in page. The answer then clears the cookie (see headers.py)."""
    authorization = request.headers.get("authorization", "")
    with platform.sessions.begin() as session:
        if authorization:
            return accounts.principal_for_token(session, _token_of(authorization)), None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            try:
                return accounts.principal_for_session(session, cookie)
            except accounts.AuthenticationFailed:
                setattr(request.state, STALE_SESSION, True)
    return ANONYMOUS, None


def _token_of(authorization: str) -> str:
    """The API token of ``Bearer <token>``, or of ``Basic`` with the token as password: the
    form lakeFS clients send (access key id, then secret)."""
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "basic" and credentials:
        try:
            _, colon, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            colon, password = "", ""
        if colon and password:
            return password
    elif scheme.lower() == "bearer" and credentials:
        return credentials
    raise accounts.AuthenticationFailed(
        "use 'Authorization: Bearer <API token>' (or Basic, with the API token as password)"
    )


async def _form_csrf(request: Request) -> str:
    """The ``csrf_token`` field of a server-rendered form post, if this is one."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return ""
    form = await request.form()
    value = form.get(CSRF_FIELD, "")
    return value if isinstance(value, str) else ""


def _parsed_as_json(content_type: str) -> bool:
    """Whether FastAPI reads a body of this type as JSON (``application/json`` or any
    ``application/*+json``, in any case): the refs in every such body must be checked."""
    if not content_type:
        return False  # FastAPI's strict content type: such a body is never parsed
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    is_json = subtype == "json" or subtype.endswith("+json")
    return message.get_content_maintype() == "application" and is_json


async def _json_refs(request: Request) -> list[str]:
    if not _parsed_as_json(request.headers.get("content-type", "")):
        return []
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []  # the route's own validation answers 422
    if not isinstance(body, dict):
        return []
    return [str(body[f]) for f in REF_FIELDS if isinstance(body.get(f), str)]


def stated_purpose(request: Request) -> str:
    """The purpose of use: the header, else what a signed-in browser stated on the portal."""
    purpose = request.headers.get(PURPOSE_HEADER, "")
    if not purpose and getattr(request.state, "csrf", None) is not None:
        purpose = unquote(request.cookies.get(PURPOSE_COOKIE, ""))
    return purpose


async def enforce(request: Request) -> None:
    route = request.scope.get("route")
    policy = policy_of(getattr(route, "endpoint", None))
    platform: Platform = request.app.state.platform
    try:
        principal, csrf = await run_in_threadpool(_resolve_principal, platform, request)
    except accounts.AuthenticationFailed:
        if policy is not Policy.PUBLIC:
            raise
        principal, csrf = ANONYMOUS, None  # a bad token does not shut the public routes
    request.state.principal = principal
    request.state.csrf = csrf
    if policy is Policy.PUBLIC:
        return
    if principal.anonymous and not anonymous_may_call(getattr(route, "endpoint", None), request.method):
        raise _sign_in()
    if csrf is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "") or await _form_csrf(request)
        if not sent or not same(sent, csrf):
            raise CsrfFailed(f"missing or wrong {CSRF_HEADER} header for a cookie-authenticated change")
    if policy is Policy.AUTHENTICATED:
        return
    if policy is Policy.SITE_ADMIN:
        if not principal.site_admin:
            raise SiteAdminOnly("site administrators only (with a session or an unrestricted admin token)")
        return
    params = request.path_params
    if "owner" not in params or "name" not in params:
        raise InvalidInput(
            "dataset route without owner/name"
        )  # a programming error, caught by the route walk test
    refs = [str(params[f]) for f in REF_FIELDS if f in params]
    refs += [request.query_params[f] for f in REF_FIELDS if f in request.query_params]
    refs += await _json_refs(request)
    purpose = stated_purpose(request)
    need = Role(policy.value)
    args = (platform, principal, params["owner"], params["name"], need, refs, purpose, client_ip(request))
    try:
        request.state.decision = await run_in_threadpool(_decide, *args)
    except (access.AccessDenied, access.Forbidden, access.PurposeRequired):
        if principal.anonymous:  # a public dataset is read without signing in; anything else asks for it
            raise _sign_in() from None
        raise


def _sign_in() -> NotSignedIn:
    """What an anonymous caller hears wherever a sign-in might help: never whether a dataset exists."""
    return NotSignedIn("sign in, or send an API token as 'Authorization: Bearer <token>'")


def _decide(
    platform: Platform,
    principal: Principal,
    owner: str,
    name: str,
    need: Role,
    refs: list[str],
    purpose: str,
    ip: str,
) -> access.Decision:
    with platform.sessions.begin() as session:
        decision = access.decide(
            session, principal, owner=owner, name=name, need=need, refs=refs, purpose=purpose
        )
        for ref in decision.phi_refs:  # on record before a single byte is served
            audit.record(
                session,
                actor=principal.username,
                action="phi.open",
                dataset=f"{owner}/{name}",
                ref=ref,
                ip=ip,
                purpose=purpose,
            )
        return decision
