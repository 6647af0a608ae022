"""A turned-down form post shows its own page again, with what was typed and why it was refused.

A form route names its page with ``@form_page``; when the post fails with a user's mistake the
error handler asks for that page (a GET through the app's routes, so it is authorised and built
as on any visit) with the post's values and the reason in ``request.state``. The page renders
them through ``submitted`` (see ``render.page``) and the ``_form.html`` macros.
"""

from __future__ import annotations

from collections.abc import Callable
from string import Formatter
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.types import Message

from imagehub_api.web.render import SUBMITTED, Submitted

F = TypeVar("F", bound=Callable[..., Any])
_FORM_PAGE_ATTR = "_imagehub_form_page"
UNECHOED = frozenset({"csrf_token", "password"})  # never written back into a page
REDISPLAYED = frozenset({400, 404, 409, 412, 422})  # the input's fault: worth correcting in place


def form_page(path: str) -> Callable[[F], F]:
    """Marks a form post with the path of the page holding its form: ``{field}`` is filled from
    the post's path parameters, or else from its form fields (``?series={series}``)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _FORM_PAGE_ATTR, path)
        return endpoint

    return mark


def _page_path(template: str, params: dict[str, Any], values: dict[str, str]) -> str:
    """The page's path and query, each field's value quoted where it stands."""
    parts = []
    for literal, field, _, _ in Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            parts.append(quote(str(params[field] if field in params else values.get(field, "")), safe=""))
    return "".join(parts)


async def redisplay(request: Request, status: int, message: str) -> HTMLResponse | None:
    """The post's form page with its values and ``message`` as ``status``; None where the post
    has no form page, the error is not the input's, or the page cannot be shown either."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    template: str | None = getattr(endpoint, _FORM_PAGE_ATTR, None)
    if template is None or request.method != "POST" or status not in REDISPLAYED:
        return None
    values: dict[str, str] = {}
    for key, value in (await request.form()).multi_items():
        if isinstance(value, str) and key not in UNECHOED:
            values.setdefault(key, value)
    setattr(request.state, SUBMITTED, Submitted(request.url.path, values, message))
    shown = await _get(request, _page_path(template, request.path_params, values))
    if shown is None:
        return None
    return HTMLResponse(shown, status_code=422 if status == 404 else status)  # the page is there


async def _get(request: Request, target: str) -> bytes | None:
    """The body of a GET of ``target`` through the app's routes (as this caller), or None
    unless it answers with a page."""
    url = urlsplit(target)
    scope = {
        **request.scope,
        "method": "GET",
        "path": url.path,
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await request.app.router(scope, receive, send)
    if not sent or sent[0].get("status") != 200:
        return None
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
