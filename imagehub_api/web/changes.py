"""Change details on the portal: a DICOM header diff and a label map's change, as fragments that
the file list of a proposal, commit or comparison loads when a reviewer opens a row (full pages
when opened directly)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from imagehub.core.errors import InvalidInput
from imagehub.services import change_detail
from imagehub.services.platform import Platform
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.routes.changes import PathQuery, RefQuery, viewed_detail
from imagehub_api.security import Policy, requires
from imagehub_api.web.dataset import frame
from imagehub_api.web.render import is_htmx, page, templates

router = APIRouter(prefix="/{owner}/{name}/changes", include_in_schema=False)

# Which expanders a row of the file list offers (decided from the name, without reading the file);
# registered here so the file list needs no change to the modules that render it.
templates.env.filters["change_details"] = change_detail.detail_kinds


def _context(request: Request, ctx: DatasetContext, left: str, right: str, path: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "full_name": ctx.full_name,
        "left_id": left,
        "right_id": right,
        "detail_path": path,
    }
    if not is_htmx(request):
        context.update(frame(ctx, "compare", right, None))
    return context


# Each detail: how it is computed, the fragment that renders it, and its key in that fragment.
_FRAGMENTS = {"header": ("_header_diff.html", "diff"), "labels": ("_label_change.html", "change")}


def _detail(
    request: Request,
    ctx: DatasetContext,
    session: Session,
    platform: Platform,
    kind: str,
    refs: tuple[str, str],
    path: str,
) -> HTMLResponse:
    """One change detail as a fragment (a full page when opened directly); inside a file list,
    a file it does not apply to says why instead of failing the list."""
    template, key = _FRAGMENTS[kind]
    ids = ctx.repo.resolve(refs[0]).id, ctx.repo.resolve(refs[1]).id
    context = _context(request, ctx, ids[0], ids[1], path)
    try:
        context[key] = viewed_detail(ctx, session, platform, request, kind, ids, path)
    except InvalidInput as error:
        if not is_htmx(request):
            raise
        context["problem"] = str(error)
    return page(request, template, context)


@router.get("/header", response_class=HTMLResponse, operation_id="portal-change-header")
@requires(Policy.DATASET_READ)
def header_fragment(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    left: RefQuery,
    right: RefQuery,
    path: PathQuery,
) -> HTMLResponse:
    return _detail(request, ctx, session, platform, "header", (left, right), path)


@router.get("/labels", response_class=HTMLResponse, operation_id="portal-change-labels")
@requires(Policy.DATASET_READ)
def labels_fragment(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    left: RefQuery,
    right: RefQuery,
    path: PathQuery,
) -> HTMLResponse:
    return _detail(request, ctx, session, platform, "labels", (left, right), path)
