"""Cross-origin access to DICOMweb, opt-in (``IMAGEHUB_CORS_ORIGINS``): a viewer served from
another origin (OHIF, say) calls the DICOMweb routes with a bearer token. Only those routes
answer across origins, and never with cookies, so the portal's session stays same-origin."""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

DICOMWEB_PATH = re.compile(r"^/api/v1/datasets/[^/]+/[^/]+/refs/.+/dicomweb(/|$)")
METHODS = ["GET", "HEAD", "POST"]  # QIDO-RS and WADO-RS, STOW-RS
HEADERS = ["Authorization", "Accept", "Content-Type", "X-Purpose-Of-Use"]


class DicomwebCors:
    """Starlette's CORS handling (preflights, Access-Control-* headers) for DICOMweb paths."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=METHODS,
            allow_headers=HEADERS,
            expose_headers=["Warning"],  # QIDO-RS's note that matching stayed literal
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and DICOMWEB_PATH.match(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
