"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from imagehub import __version__
from imagehub.core.auth.ratelimit import RateLimiter
from imagehub.services.platform import Platform
from imagehub.services.webhooks import dispatching
from imagehub_api.audit_context import AuditClientAddress
from imagehub_api.cors import DicomwebCors
from imagehub_api.errors import ERROR_RESPONSES, install_error_handlers
from imagehub_api.headers import SecurityHeaders
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
    lakefs,
    proposals,
    refs,
    releases,
    reviews,
    transport,
    versions,
    webhooks,
)
from imagehub_api.security import enforce
from imagehub_api.web import api_docs, dataset, explore, history, new_dataset, session, viewer
from imagehub_api.web import changes as change_pages
from imagehub_api.web import checks as check_pages
from imagehub_api.web import issues as issue_pages
from imagehub_api.web import proposals as proposal_pages
from imagehub_api.web import releases as release_pages
from imagehub_api.web.render import STATIC

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
    lakefs,
)
PORTAL = (
    api_docs,
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
        docs_url=None,  # served by web/api_docs.py from local files, not from a CDN
        redoc_url=None,
        openapi_url=api_docs.OPENAPI_URL,
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
    for module in ROUTERS:
        app.include_router(module.router, responses=ERROR_RESPONSES)
    for module in PORTAL:
        app.include_router(module.router)
    # The viewer bundle is built by the set-up (`make setup`); without it pages fall back to thumbnails.
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")

    app.add_middleware(SecurityHeaders, secure_cookies=platform.settings.secure_cookies)
    app.add_middleware(AuditClientAddress)

    # Holds only the OIDC state/nonce between redirect and callback, signed with the secret key.
    app.add_middleware(
        SessionMiddleware,
        secret_key=platform.secret_key,
        session_cookie="imagehub_oidc",
        same_site="lax",
        https_only=platform.settings.secure_cookies,
        max_age=600,
    )
    if platform.settings.cors_origins:
        app.add_middleware(DicomwebCors, origins=platform.settings.cors_origins)
    return app
