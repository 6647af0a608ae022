"""Releases on the portal: the list, and one release with its notes, frozen summary and citation."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from imagehub.services import releases
from imagehub_api.deps import DatasetDep, SessionDep
from imagehub_api.security import Policy, requires
from imagehub_api.urls import public_base
from imagehub_api.web.dataset import frame
from imagehub_api.web.render import page

router = APIRouter(prefix="/{owner}/{name}/releases", include_in_schema=False)
PAGE = 50


@router.get("", response_class=HTMLResponse, operation_id="portal-releases")
@requires(Policy.DATASET_READ)
def list_page(
    request: Request, ctx: DatasetDep, session: SessionDep, before: int | None = Query(None, ge=1)
) -> HTMLResponse:
    found = releases.list_releases(session, ctx.dataset, before=before, limit=PAGE)
    context = {
        **frame(ctx, "releases", ctx.dataset.default_branch, None),
        "releases": [(r, releases.summary_of(session, r)) for r in found],
        "next_before": found[-1].id if len(found) == PAGE else None,
    }
    return page(request, "releases.html", context)


@router.get("/{tag}", response_class=HTMLResponse, operation_id="portal-release")
@requires(Policy.DATASET_READ)
def detail(request: Request, ctx: DatasetDep, session: SessionDep, tag: str) -> HTMLResponse:
    found = releases.get(session, ctx.dataset, tag)
    base = public_base(request)
    url = f"{base}/{ctx.full_name}/releases/{tag}"
    context = {
        **frame(ctx, "releases", tag, ctx.repo.resolve(found.commit_id)),
        "release": found,
        "summary": releases.summary_of(session, found),
        "authors": releases.authors_of(found),
        "cff": releases.citation_cff(found, ctx.dataset, url),
        "bibtex": releases.citation_bibtex(found, ctx.dataset, url),
        "download": f"imagehub clone {ctx.full_name} --ref {tag} --url {base}",
    }
    return page(request, "release.html", context)
