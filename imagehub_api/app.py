"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import URL
from starlette.middleware.sessions import SessionMiddleware

from imagehub import __version__
from imagehub.core.auth.ratelimit import RateLimiter
from imagehub.services.platform import Platform
from imagehub.services.webhooks import dispatching
from imagehub_api.errors import install_error_handlers
from imagehub_api.oidc import register_oidc
from imagehub_api.routes import (
    access,
    admin,
    auth,
    blobs,
    changes,
    checks,
    datasets,
    deid,
    dicomweb,
    health,
    imaging,
    issues,
    proposals,
    refs,
    releases,
    reviews,
    transport,
    versions,
    webhooks,
)
from imagehub_api.security import enforce
from imagehub_api.web import changes as change_pages
from imagehub_api.web import checks as check_pages
from imagehub_api.web import dataset, explore, history, new_dataset, session, viewer
from imagehub_api.web import issues as issue_pages
from imagehub_api.web import proposals as proposal_pages
from imagehub_api.web import releases as release_pages
from imagehub_api.web.render import STATIC, VERSION_PARAM

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# The API docs page loads Swagger UI from a CDN; everything else is same-origin only. The
# viewer compiles its image codecs from WebAssembly and decodes in workers.
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"
)
# Portal routers go last: `/{owner}/{name}` would otherwise shadow fixed paths.
ROUTERS = (
    health,
    auth,
    datasets,
    refs,
    versions,
    proposals,
    reviews,
    checks,
    issues,
    releases,
    imaging,
    changes,
    dicomweb,
    deid,
    blobs,
    transport,
    access,
    admin,
    webhooks,
)
PORTAL = (
    session,
    explore,
    new_dataset,
    history,
    viewer,
    proposal_pages,
    release_pages,
    issue_pages,
    change_pages,
    check_pages,
    dataset,
)


def _cache_policy(url: URL) -> str:
    """Hashed viewer chunks and content-versioned URLs (``static_url``) never change; other
    static files revalidate by ETag; everything else may hold PHI and is never stored."""
    versioned = VERSION_PARAM in parse_qs(url.query)
    if url.path.startswith("/static/viewer/assets/") or (url.path.startswith("/static/") and versioned):
        return "public, max-age=31536000, immutable"
    return "no-cache" if url.path.startswith("/static/") else "no-store"


def create_app(platform: Platform) -> FastAPI:
    """Build the app around an assembled platform (tests pass their own)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with dispatching(platform):  # sends webhook deliveries while the app serves
            yield
        platform.close()

    app = FastAPI(
        title="ImageHub",
        version=__version__,
        description="Versioned, de-identified, reviewable medical-imaging datasets.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        dependencies=[Depends(enforce)],  # the single enforcement point, for every route
    )
    app.state.platform = platform
    app.state.rate_limiter = RateLimiter(
        capacity=platform.settings.login_attempts_per_minute,
        per_second=platform.settings.login_attempts_per_minute / 60,
    )
    install_error_handlers(app)
    register_oidc(app, platform.settings)
    for module in (*ROUTERS, *PORTAL):
        app.include_router(module.router)
    # The viewer bundle is built by the set-up (`make setup`); without it pages fall back to thumbnails.
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/api/docs"):
            response.headers["Content-Security-Policy"] = PAGE_CSP
        if platform.settings.secure_cookies:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        response.headers.setdefault("Cache-Control", _cache_policy(request.url))
        return response

    # Holds only the OIDC state/nonce between redirect and callback, signed with the secret key.
    app.add_middleware(
        SessionMiddleware,
        secret_key=platform.secret_key,
        session_cookie="imagehub_oidc",
        same_site="lax",
        https_only=platform.settings.secure_cookies,
        max_age=600,
    )
    return app
