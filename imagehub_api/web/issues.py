"""Issues on the portal: the list, opening one, the thread, labels, assignee and linked series."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Role
from imagehub.core.errors import NotFound
from imagehub.models import issues as issue_queries
from imagehub.models.issues import Issue
from imagehub.services import issues
from imagehub.services.browse import series_row
from imagehub_api.deps import DatasetContext, DatasetDep, SessionDep
from imagehub_api.gates import gate_refs
from imagehub_api.routes.issues import openable_commits
from imagehub_api.security import Policy, requires
from imagehub_api.web.dataset import frame
from imagehub_api.web.forms import form_page
from imagehub_api.web.render import is_htmx, page

ISSUES = "/{owner}/{name}/issues"
ISSUE = ISSUES + "/{number}"  # the page of an issue's forms
router = APIRouter(prefix=ISSUES, include_in_schema=False)
PAGE = 50
TextField = Annotated[str, Form(max_length=issues.MAX_BODY)]


def _url(ctx: DatasetContext, issue: Issue) -> str:
    return f"/{ctx.full_name}/issues/{issue.number}"


def _labels(text: str) -> list[str]:
    """Labels typed into one box, separated by commas."""
    return issues.normalise_labels(text.split(","))


@router.get("", response_class=HTMLResponse, operation_id="portal-issues")
@requires(Policy.DATASET_READ)
def list_page(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    state: str = Query("open", pattern="^(open|closed|all)$"),
    label: str = Query("", max_length=issues.MAX_LABEL_LENGTH),
    assignee: str = Query("", max_length=64),
    q: str = Query("", max_length=200),
    after: int = Query(0, ge=0),
) -> HTMLResponse:
    found = issues.list_issues(
        session, ctx.dataset, state=state, label=label, assignee=assignee, text=q, after=after, limit=PAGE
    )
    filters = {"state": state, "label": label, "assignee": assignee, "q": q}
    context = {
        **frame(ctx, "issues", ctx.dataset.default_branch, None),
        "issues": [(issue, issues.labels_of(issue)) for issue in found],
        **filters,
        "query": "&".join(f"{k}={quote(v, safe='')}" for k, v in filters.items() if v),
        "next_after": found[-1].number if len(found) == PAGE else None,
    }
    return page(request, "issues.html", context)


@router.get("/new", response_class=HTMLResponse, operation_id="portal-issue-form")
@requires(Policy.DATASET_WRITE)
def new_form(request: Request, ctx: DatasetDep) -> HTMLResponse:
    return page(request, "issue_new.html", frame(ctx, "issues", ctx.dataset.default_branch, None))


@router.post("/new", operation_id="portal-issue-create")
@requires(Policy.DATASET_WRITE)
@form_page(f"{ISSUES}/new")
def create(
    ctx: DatasetDep,
    session: SessionDep,
    title: Annotated[str, Form(max_length=issues.MAX_TITLE)],
    body: TextField = "",
    labels: Annotated[str, Form(max_length=2000)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    created = issues.create(
        session,
        ctx.dataset,
        actor=ctx.actor,
        title=title,
        body=body,
        labels=_labels(labels),
        assignee=assignee,
    )
    return RedirectResponse(_url(ctx, created), status_code=303)


def _series(session: Session, ctx: DatasetContext, request: Request, issue: Issue) -> list[dict[str, Any]]:
    """Linked series the caller may open, with what the viewer and the thumbnail need."""
    links = issue_queries.links(session, issue.id, issues.MAX_LINKS)
    allowed = openable_commits(session, ctx, request, links)
    shown: list[dict[str, Any]] = []
    for link in links:
        if link.commit_id not in allowed:
            shown.append({"link": link, "withheld": True})
            continue
        try:
            row = series_row(session, ctx.dataset.id, link.commit_id, link.series_instance_uid)
        except NotFound:
            row = None
        shown.append({"link": link, "withheld": False, "row": row})
    return shown


@router.get("/{number}", response_class=HTMLResponse, operation_id="portal-issue")
@requires(Policy.DATASET_READ)
def detail(request: Request, ctx: DatasetDep, session: SessionDep, number: int) -> HTMLResponse:
    found = issues.get(session, ctx.dataset, number)
    context = {
        **frame(ctx, "issues", ctx.dataset.default_branch, None),
        "issue": found,
        "labels": issues.labels_of(found),
        "comments": issues.list_comments(session, ctx.dataset, number, limit=issues.MAX_PAGE),
        "series": _series(session, ctx, request, found),
    }
    return page(request, "issue.html", context)


@router.post("/{number}/comments", operation_id="portal-issue-comment", response_model=None)
@requires(Policy.DATASET_WRITE)
@form_page(ISSUE)
def comment(request: Request, ctx: DatasetDep, session: SessionDep, number: int, body: TextField) -> Response:
    """With HTMX, answer the new comment alone for the page to append; else back to the issue."""
    added = issues.comment(session, ctx.dataset, number, actor=ctx.actor, body=body)
    if is_htmx(request):
        return page(request, "_issue_comment.html", {"c": added})
    return RedirectResponse(f"/{ctx.full_name}/issues/{number}#comment-{added.id}", status_code=303)


@router.post("/{number}/edit", operation_id="portal-issue-edit")
@requires(Policy.DATASET_WRITE)
@form_page(ISSUE)
def edit(
    ctx: DatasetDep,
    session: SessionDep,
    number: int,
    labels: Annotated[str, Form(max_length=2000)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    updated = issues.update(
        session, ctx.dataset, number, actor=ctx.actor, labels=_labels(labels), assignee=assignee
    )
    return RedirectResponse(_url(ctx, updated), status_code=303)


@router.post("/{number}/close", operation_id="portal-issue-close")
@requires(Policy.DATASET_WRITE)
def close(ctx: DatasetDep, session: SessionDep, number: int) -> RedirectResponse:
    return RedirectResponse(_url(ctx, issues.close(session, ctx.dataset, number, actor=ctx.actor)), 303)


@router.post("/{number}/reopen", operation_id="portal-issue-reopen")
@requires(Policy.DATASET_WRITE)
def reopen(ctx: DatasetDep, session: SessionDep, number: int) -> RedirectResponse:
    return RedirectResponse(_url(ctx, issues.reopen(session, ctx.dataset, number, actor=ctx.actor)), 303)


@router.post("/{number}/series", operation_id="portal-issue-link")
@requires(Policy.DATASET_WRITE)
@form_page(ISSUE)
def link(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    number: int,
    ref: Annotated[str, Form(max_length=issues.MAX_REF)],
    series_instance_uid: Annotated[str, Form(max_length=128)],
    path: Annotated[str, Form(max_length=1024)] = "",
    note: Annotated[str, Form(max_length=issues.MAX_NOTE)] = "",
) -> RedirectResponse:
    # A form field is not seen by the enforcement point: ask its PHI question here.
    gate_refs(session, ctx, request, Role.WRITE, [ref])
    issues.link_series(
        session,
        ctx.dataset,
        ctx.repo,
        number,
        actor=ctx.actor,
        ref=ref,
        series_instance_uid=series_instance_uid,
        path=path,
        note=note,
    )
    return RedirectResponse(f"/{ctx.full_name}/issues/{number}", status_code=303)


@router.post("/{number}/series/{link_id}/delete", operation_id="portal-issue-unlink")
@requires(Policy.DATASET_WRITE)
def unlink(ctx: DatasetDep, session: SessionDep, number: int, link_id: int) -> RedirectResponse:
    issues.unlink_series(session, ctx.dataset, number, link_id, actor=ctx.actor)
    return RedirectResponse(f"/{ctx.full_name}/issues/{number}", status_code=303)
