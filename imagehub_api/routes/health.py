"""GET /api/v1/health: database, storage and migration state in one response."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from imagehub.services.health import health
from imagehub_api.deps import PlatformDep
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", operation_id="health-get", summary="Platform health")
@requires(Policy.PUBLIC)
def get_health(platform: PlatformDep) -> JSONResponse:
    """200 when every dependency works, 503 with the failing part named otherwise."""
    report = health(platform)
    return JSONResponse(report.as_dict(), status_code=200 if report.ok else 503)
