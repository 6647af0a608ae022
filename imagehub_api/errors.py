"""Domain errors become HTTP errors here, and nowhere else."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException

from imagehub.core.db.engine import is_contention, reason
from imagehub.core.errors import Conflict, ImageHubError, InvalidInput, NotFound, PreconditionFailed
from imagehub.core.storage import StorageError
from imagehub.core.vcs import BlobMismatch
from imagehub.core.vcs.repository import ProtectedBranch
from imagehub.services.access import Forbidden, PurposeRequired
from imagehub.services.accounts import AuthenticationFailed
from imagehub.services.staging import DirtyBranch
from imagehub_api.accept import NotAcceptable
from imagehub_api.ranges import RangeNotSatisfiable
from imagehub_api.web.forms import redisplay
from imagehub_api.web.render import is_htmx, page

LAKEFS_PREFIX = "/lakefs/"  # the lakeFS-compatible API, per owner: /lakefs/{owner}/api/v1
API_PREFIXES = ("/api/", LAKEFS_PREFIX)
UNSTORABLE = (
    "a value in the request cannot be stored: a number out of range, text that is not valid "
    "Unicode (a lone surrogate) or a NUL character"
)


class UploadTooLarge(ImageHubError):
    """The body is larger than IMAGEHUB_MAX_UPLOAD_BYTES."""


class TooManyAttempts(ImageHubError):
    """Rate limit reached on a credential endpoint."""


class ServiceUnavailable(ImageHubError):
    """Something the server depends on (an identity provider, say) cannot be reached now."""


class ErrorBody(BaseModel):
    """What every API error carries; some add more (a conflict's paths, the missing blobs)."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(description="The kind of error: NotFound, Conflict, InvalidInput, ...")
    detail: str | list[Any] = Field(description="What went wrong (for a malformed request, each problem)")


# Documented on every API route: what a client must be ready for besides success.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "Not signed in, or the token is not valid"),
        (403, "Signed in, but not allowed"),
        (404, "No such dataset, ref, path or resource (or not visible to the caller)"),
        (409, "Conflicts with the current state: a moved branch, a name taken, a merge conflict"),
        (422, "Invalid input"),
        (503, "Turned away for a concurrent write: send it again after Retry-After seconds"),
    )
}
BINARY_BODY = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}

log = logging.getLogger(__name__)
RETRY_AFTER_S = 1
CONTENTION = "the database turned this request away for a concurrent write: send it again"

_STATUS: list[tuple[type[ImageHubError], int]] = [
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (PurposeRequired, 428),
    (NotFound, 404),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (InvalidInput, 422),
    (BlobMismatch, 422),
    (RangeNotSatisfiable, 416),
    (NotAcceptable, 406),
    (UploadTooLarge, 413),
    (TooManyAttempts, 429),
    (StorageError, 503),  # the object store is down or misconfigured: the server's problem, retried
    (ServiceUnavailable, 503),
]


# The lakeFS-compatible API answers with lakeFS's codes where they differ from ours: its SDKs
# raise BadRequestException for 400 (bad input, nothing to commit or merge, a dirty branch)
# and ForbiddenException for 403 (writing to a protected branch, deleting the default one).
_LAKEFS_STATUS: list[tuple[type[ImageHubError], int]] = [
    (ProtectedBranch, 403),
    (DirtyBranch, 400),
    (InvalidInput, 400),
    (BlobMismatch, 400),
]


def status_for(exc: ImageHubError, *, lakefs: bool = False) -> int:
    for kind, status in [*_LAKEFS_STATUS, *_STATUS] if lakefs else _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def is_lakefs(request: Request) -> bool:
    return request.url.path.startswith(LAKEFS_PREFIX)


def is_portal(request: Request) -> bool:
    """A browser page (HTML errors, sign-in redirects) rather than the API or a static file."""
    path = request.url.path
    return not path.startswith((*API_PREFIXES, "/static/")) and request.method in ("GET", "HEAD", "POST")


def _error_body(request: Request, error: str, detail: Any, **extra: Any) -> dict[str, Any]:
    """lakeFS clients read an error's text from ``message``; our own clients from ``detail``."""
    body = {"error": error, "detail": detail, **extra}
    if is_lakefs(request):
        body["message"] = detail if isinstance(detail, str) else json.dumps(detail)
    return body


async def _portal_error(request: Request, status: int, message: str) -> Response:
    """A browser's error: a sign-in, the reason alone for HTMX (portal.js shows it by the form),
    a refused form shown again, or else the error page."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if status == 401:
        login = f"/login?next={quote(here, safe='')}"
        if is_htmx(request):  # a fragment: send the whole page to sign in
            return Response(status_code=401, headers={"HX-Redirect": login})
        return RedirectResponse(login, status_code=303)
    if is_htmx(request):
        return PlainTextResponse(message, status_code=status)
    if (form := await redisplay(request, status, message)) is not None:
        return form
    if status == 428:
        return page(request, "purpose.html", {"next": here, "message": message}, status_code=428)
    return page(request, "error.html", {"status": status, "message": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ImageHubError)
        status = status_for(exc, lakefs=is_lakefs(request))
        if is_portal(request):
            return await _portal_error(request, status, str(exc))
        body = _error_body(request, type(exc).__name__, str(exc), **exc.details())
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, RangeNotSatisfiable):
            headers = {"Content-Range": f"bytes */{exc.size}"}
        return JSONResponse(body, status_code=status, headers=headers)

    async def handle_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if is_portal(request) and exc.status_code >= 400:
            return await _portal_error(request, exc.status_code, str(exc.detail))
        body = {"detail": exc.detail}
        if is_lakefs(request):
            body["message"] = str(exc.detail)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def handle_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if is_portal(request):
            problems = "; ".join(f"{(e['loc'] or ['input'])[-1]}: {e['msg']}" for e in exc.errors())
            return await _portal_error(request, 422, problems)
        # Where and what, not the input itself: it can be large, and need not be valid JSON (NaN).
        found = [{key: e[key] for key in ("type", "loc", "msg") if key in e} for e in exc.errors()]
        body = _error_body(request, "RequestValidationError", jsonable_encoder(found))
        # ASCII JSON: a key holding a lone surrogate (in ``loc``) must not break the answer.
        status = 400 if is_lakefs(request) else 422
        return Response(json.dumps(body), status_code=status, media_type="application/json")

    async def handle_unstorable(request: Request, exc: Exception) -> Response:
        """A value no column can hold (a number past 64 bits, a lone surrogate, a NUL byte on
        PostgreSQL) is the caller's mistake, not a crash."""
        return await handle(request, InvalidInput(UNSTORABLE))

    async def handle_database(request: Request, exc: Exception) -> Response:
        """A write the database aborted for a concurrent one changed nothing: say so, and
        when to try again, instead of an internal error. Any other failure stays a 500."""
        assert isinstance(exc, DBAPIError)
        if isinstance(exc, DataError):
            return await handle_unstorable(request, exc)
        if not is_contention(exc):
            raise exc
        log.warning("database contention on %s %s: %s", request.method, request.url.path, reason(exc))
        if is_portal(request):
            return await _portal_error(request, 503, CONTENTION)
        body = _error_body(request, "Contention", CONTENTION)
        return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    app.add_exception_handler(ImageHubError, handle)
    app.add_exception_handler(DBAPIError, handle_database)
    app.add_exception_handler(OverflowError, handle_unstorable)
    app.add_exception_handler(UnicodeEncodeError, handle_unstorable)
    app.add_exception_handler(HTTPException, handle_http)
    app.add_exception_handler(RequestValidationError, handle_validation)
