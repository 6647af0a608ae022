"""The interactive API docs (Swagger UI) at /api/docs, from our own static files.

FastAPI's default page loads Swagger UI from a public CDN and starts it with an inline script:
blank on an offline install, and it could not keep the portal's Content-Security-Policy. Here
the vendored copy (see viewer/vite.config.ts) is started by a script file of ours.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from imagehub_api.security import Policy, requires
from imagehub_api.web.render import templates

DOCS_URL = "/api/docs"
OPENAPI_URL = "/api/openapi.json"

router = APIRouter(include_in_schema=False)


@router.get(DOCS_URL, response_class=HTMLResponse, operation_id="portal-api-docs")
@requires(Policy.PUBLIC)
def api_docs(request: Request) -> HTMLResponse:
    """Public, as the OpenAPI document it shows is."""
    return templates.TemplateResponse(request, "api_docs.html", {"openapi_url": OPENAPI_URL})
