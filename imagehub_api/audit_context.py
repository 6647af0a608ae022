"""Every audit event recorded while a request is served carries the caller's address.

Events are recorded deep in services (grants, tokens, releases, policies), which know
nothing of HTTP; this middleware hands them the address through ``audit.CLIENT_IP``
for the length of the request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from imagehub.services import audit


class AuditClientAddress:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        token = audit.CLIENT_IP.set(client[0] if client else "")
        try:
            await self.app(scope, receive, send)
        finally:
            audit.CLIENT_IP.reset(token)
