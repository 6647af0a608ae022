"""Security and caching headers on every response, as plain ASGI middleware.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's request/response wrapper
relays every body chunk of an upload or a download through extra tasks and streams, which
made the event loop the bottleneck of a multi-gigabyte push. Here only the response's
start message is touched; bodies pass straight through.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagehub.core.media import OCTET_STREAM, inline_type
from imagehub_api.security import SESSION_COOKIE, STALE_SESSION
from imagehub_api.web.render import VERSION_PARAM

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Every page is same-origin only, the API docs included. The viewer compiles its image codecs
# from WebAssembly and decodes in workers.
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
# Stored files are the uploader's bytes: opened as a page they could run script as the portal.
# A sandboxed document has an opaque origin and may load nothing.
STORED_CSP = "sandbox; default-src 'none'"


def cache_policy(path: str, query: str) -> str:
    """Hashed viewer chunks and content-versioned URLs (``static_url``) never change; other
    static files revalidate by ETag; everything else may hold PHI and is never stored."""
    versioned = VERSION_PARAM in parse_qs(query)
    if path.startswith("/static/viewer/assets/") or (path.startswith("/static/") and versioned):
        return "public, max-age=31536000, immutable"
    return "no-cache" if path.startswith("/static/") else "no-store"


def stored_file_headers(path: str, media_type: str) -> dict[str, str]:
    """Headers of a response carrying a dataset file's bytes: a type that could run script
    (or one that is no valid header value) goes out as a byte stream to save, never shown."""
    shown = inline_type(media_type)
    headers = {"Content-Type": shown or OCTET_STREAM, "Content-Security-Policy": STORED_CSP}
    if shown is None:
        name = quote(path.rsplit("/", 1)[-1], safe="")
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return headers


def _sets_session(headers: MutableHeaders) -> bool:
    """Whether the answer already sets the session cookie (a sign-in over an ended session)."""
    return any(value.startswith(f"{SESSION_COOKIE}=") for value in headers.getlist("set-cookie"))


def _expired_cookie(name: str, *, secure: bool) -> str:
    """The Set-Cookie value that makes a browser drop ``name``, as the sign-in sets it."""
    response = Response()
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
    return response.headers["set-cookie"]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure_cookies = secure_cookies
        self.expired_session = _expired_cookie(SESSION_COOKIE, secure=secure_cookies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])  # ASGI lets a start message leave them out
                headers = MutableHeaders(scope=message)
                headers.update(SECURITY_HEADERS)
                headers.setdefault("Content-Security-Policy", PAGE_CSP)  # stored files keep theirs
                if self.secure_cookies:
                    headers["Strict-Transport-Security"] = HSTS
                headers.setdefault("Cache-Control", cache_policy(path, query))
                if scope.get("state", {}).get(STALE_SESSION) and not _sets_session(headers):
                    headers.append("Set-Cookie", self.expired_session)
            await send(message)

        await self.app(scope, receive, send_with_headers)
