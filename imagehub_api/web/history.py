"""History pages: the commit log, one commit, and the comparison of two versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from imagehub.core.errors import NotFound
from imagehub.core.vcs.types import Commit
from imagehub.services import compare
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.security import Policy, requires
from imagehub_api.web.dataset import frame, pipeline_panel
from imagehub_api.web.render import is_htmx, page

router = APIRouter(prefix="/{owner}/{name}", include_in_schema=False)
LOG_PAGE = 50
CHANGES_PAGE = 100


def changes_between(
    ctx: DatasetContext, session: Session, left: Commit, right: Commit, after: str, *, series: bool
) -> dict[str, Any]:
    """One page of file changes between two commits and, for a whole page, the series changes."""
    files = ctx.repo.diff(left.id, right.id, after=after, limit=CHANGES_PAGE + 1)
    found: dict[str, Any] = {
        "full_name": ctx.full_name,
        "left": left,
        "right": right,
        "file_changes": files[:CHANGES_PAGE],
        "changes_after": files[CHANGES_PAGE - 1].path if len(files) > CHANGES_PAGE else None,
    }
    if series:
        found["series"] = compare.compare_series(session, ctx.repo, ctx.dataset.id, left, right)
    return found


@router.get("/commits/{ref}", response_class=HTMLResponse, operation_id="portal-commits")
@requires(Policy.DATASET_READ)
def commits(
    request: Request,
    ctx: DatasetDep,
    ref: str,
    path: str = Query("", max_length=1024),
    after: str = Query("", max_length=64),
) -> HTMLResponse:
    head = ctx.repo.resolve(ref)
    found = ctx.repo.log(head.id, path=path, after=after, limit=LOG_PAGE + 1)
    context = {
        **frame(ctx, "commits", ref, head),
        "log": found[:LOG_PAGE],
        "next_after": found[LOG_PAGE - 1].id if len(found) > LOG_PAGE else None,
        "log_path": path,
    }
    return page(request, "commits.html", context)


@router.get("/commit/{commit}", response_class=HTMLResponse, operation_id="portal-commit")
@requires(Policy.DATASET_READ)
def commit_page(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    commit: str,
    after: str = Query("", max_length=1100),
) -> HTMLResponse:
    shown = ctx.repo.resolve(commit)
    parent = ctx.repo.resolve(shown.parents[0]) if shown.parents else None
    if is_htmx(request):  # the next page of file changes only
        if parent is None:
            raise NotFound(f"commit {shown.id[:12]} has no parent to compare with")
        return page(
            request, "_file_changes.html", changes_between(ctx, session, parent, shown, after, series=False)
        )
    context = {
        **frame(ctx, "commits", commit, shown),
        **pipeline_panel(ctx, session, platform, shown),
        "shown": shown,
        "parent": parent,
    }
    if parent is not None:
        context.update(changes_between(ctx, session, parent, shown, after, series=True))
    return page(request, "commit.html", context)


@router.get("/compare", response_class=HTMLResponse, operation_id="portal-compare")
@requires(Policy.DATASET_READ)
def compare_page(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    left: str = Query("", max_length=255),
    right: str = Query("", max_length=255),
    after: str = Query("", max_length=1100),
) -> HTMLResponse:
    if is_htmx(request):  # the next page of file changes only
        changes = changes_between(
            ctx, session, ctx.repo.resolve(left), ctx.repo.resolve(right), after, series=False
        )
        return page(request, "_file_changes.html", changes)
    context: dict[str, Any] = {**frame(ctx, "compare", right or ctx.dataset.default_branch, None)}
    context.update(left_ref=left, right_ref=right)
    if left and right:
        left_commit, right_commit = ctx.repo.resolve(left), ctx.repo.resolve(right)
        context.update(changes_between(ctx, session, left_commit, right_commit, after, series=True))
    return page(request, "compare.html", context)
