"""Domain errors become HTTP errors here, and nowhere else."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from imagehub.core.errors import Conflict, ImageHubError, InvalidInput, NotFound
from imagehub.core.vcs import BlobMismatch
from imagehub.services.access import Forbidden, PurposeRequired
from imagehub.services.accounts import AuthenticationFailed
from imagehub_api.ranges import RangeNotSatisfiable


class UploadTooLarge(ImageHubError):
    """The body is larger than IMAGEHUB_MAX_UPLOAD_BYTES."""


class TooManyAttempts(ImageHubError):
    """Rate limit reached on a credential endpoint."""


_STATUS: list[tuple[type[ImageHubError], int]] = [
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (PurposeRequired, 428),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (BlobMismatch, 422),
    (RangeNotSatisfiable, 416),
    (UploadTooLarge, 413),
    (TooManyAttempts, 429),
]


def status_for(exc: ImageHubError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ImageHubError)
        body = {"error": type(exc).__name__, "detail": str(exc), **exc.details()}
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    app.add_exception_handler(ImageHubError, handle)
