"""Issues and annotation tasks of a dataset: /api/v1/datasets/{owner}/{name}/issues.

Reading needs read access, every change write access. Linking a series names its
version in the JSON field ``ref``, so the enforcement point's PHI gate sees it. A link
pins a commit; when an issue is read, links to commits the caller may not open (raw
(PHI) data without the role or a stated purpose) are withheld rather than refusing the
whole issue, and links that do open PHI data are on record like any other PHI access.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Role
from imagehub.models import issues as issue_queries
from imagehub.models.issues import Issue, IssueComment, IssueSeriesLink
from imagehub.services import issues
from imagehub.services.access import Forbidden, PurposeRequired
from imagehub_api.deps import DatasetContext, DatasetDep, SessionDep
from imagehub_api.gates import gate_refs
from imagehub_api.pagination import page as paginate
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/issues", tags=["issues"])

LabelList = list[str]


class IssueCreate(BaseModel):
    title: str = Field(max_length=issues.MAX_TITLE)
    body: str = Field("", max_length=issues.MAX_BODY)
    labels: LabelList = Field(default_factory=list, max_length=issues.MAX_LABELS)
    assignee: str = Field("", max_length=64, description="A user who can read the dataset")


class IssueUpdate(BaseModel):
    title: str | None = Field(None, max_length=issues.MAX_TITLE)
    body: str | None = Field(None, max_length=issues.MAX_BODY)
    labels: LabelList | None = Field(None, max_length=issues.MAX_LABELS)
    assignee: str | None = Field(None, max_length=64, description="Empty string unassigns")


class CommentCreate(BaseModel):
    body: str = Field(max_length=issues.MAX_BODY)


class SeriesLinkCreate(BaseModel):
    ref: str = Field(
        max_length=issues.MAX_REF,
        description="Branch, tag or commit the series is seen at; named `ref` so the PHI gate sees it",
    )
    series_instance_uid: str = Field(max_length=128, description="SeriesInstanceUID, or nifti:<blob>")
    path: str = Field("", max_length=1024, description="One file of the series, optional")
    note: str = Field("", max_length=issues.MAX_NOTE)


def issue_dict(issue: Issue) -> dict[str, Any]:
    return {
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "labels": issues.labels_of(issue),
        "assignee": issue.assignee,
        "state": issue.state,
        "author": issue.author,
        "created_at": issue.created_at.isoformat(),
        "updated_at": issue.updated_at.isoformat(),
        "closed_by": issue.closed_by,
        "closed_at": issue.closed_at.isoformat() if issue.closed_at else None,
    }


def comment_dict(comment: IssueComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "author": comment.author,
        "body": comment.body,
        "created_at": comment.created_at.isoformat(),
    }


def link_dict(link: IssueSeriesLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "ref": link.ref,
        "commit": link.commit_id,
        "series_instance_uid": link.series_instance_uid,
        "path": link.path,
        "note": link.note,
        "created_by": link.created_by,
        "created_at": link.created_at.isoformat(),
        "withheld": False,
    }


def openable_commits(
    session: Session, ctx: DatasetContext, request: Request, links: Sequence[IssueSeriesLink]
) -> set[str]:
    """The linked commits this caller may open now; opening a PHI one is recorded as usual."""
    allowed: set[str] = set()
    for commit in dict.fromkeys(link.commit_id for link in links):
        try:
            gate_refs(session, ctx, request, Role.READ, [commit])
        except (Forbidden, PurposeRequired):
            continue
        allowed.add(commit)
    return allowed


def visible_links(
    session: Session, ctx: DatasetContext, request: Request, links: Sequence[IssueSeriesLink]
) -> list[dict[str, Any]]:
    allowed = openable_commits(session, ctx, request, links)
    return [
        link_dict(link) if link.commit_id in allowed else {"id": link.id, "withheld": True} for link in links
    ]


def detail(session: Session, ctx: DatasetContext, request: Request, issue: Issue) -> dict[str, Any]:
    links = issue_queries.links(session, issue.id, issues.MAX_LINKS)
    return {
        **issue_dict(issue),
        "comments": issue_queries.count_comments(session, issue.id),
        "series": visible_links(session, ctx, request, links),
    }


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="issues-create")
@requires(Policy.DATASET_WRITE)
def create(ctx: DatasetDep, session: SessionDep, request: Request, body: IssueCreate) -> dict[str, Any]:
    """Open an issue; 422 for an empty title, bad labels or an assignee who cannot read the dataset."""
    created = issues.create(
        session,
        ctx.dataset,
        actor=ctx.actor,
        title=body.title,
        body=body.body,
        labels=body.labels,
        assignee=body.assignee,
    )
    return detail(session, ctx, request, created)


@router.get("", operation_id="issues-list")
@requires(Policy.DATASET_READ)
def list_issues(
    ctx: DatasetDep,
    session: SessionDep,
    state: str = Query("open", pattern="^(open|closed|all)$"),
    label: str = Query("", max_length=issues.MAX_LABEL_LENGTH),
    assignee: str = Query("", max_length=64),
    q: str = Query("", max_length=200, description="Text the title contains (any case)"),
    after: int = Query(0, ge=0, description="Last number of the previous page"),
    limit: int = Query(50, ge=1, le=issues.MAX_PAGE),
) -> dict[str, Any]:
    found = issues.list_issues(
        session, ctx.dataset, state=state, label=label, assignee=assignee, text=q, after=after, limit=limit
    )
    return paginate(found, limit, issue_dict, lambda i: i.number)


@router.get("/{number}", operation_id="issues-get")
@requires(Policy.DATASET_READ)
def get(ctx: DatasetDep, session: SessionDep, request: Request, number: int) -> dict[str, Any]:
    """One issue with its comment count and linked series (withheld where the caller may not open them)."""
    return detail(session, ctx, request, issues.get(session, ctx.dataset, number))


@router.patch("/{number}", operation_id="issues-update")
@requires(Policy.DATASET_WRITE)
def update(
    ctx: DatasetDep, session: SessionDep, request: Request, number: int, body: IssueUpdate
) -> dict[str, Any]:
    updated = issues.update(
        session,
        ctx.dataset,
        number,
        actor=ctx.actor,
        title=body.title,
        body=body.body,
        labels=body.labels,
        assignee=body.assignee,
    )
    return detail(session, ctx, request, updated)


@router.post("/{number}/close", operation_id="issues-close")
@requires(Policy.DATASET_WRITE)
def close(ctx: DatasetDep, session: SessionDep, number: int) -> dict[str, Any]:
    return issue_dict(issues.close(session, ctx.dataset, number, actor=ctx.actor))


@router.post("/{number}/reopen", operation_id="issues-reopen")
@requires(Policy.DATASET_WRITE)
def reopen(ctx: DatasetDep, session: SessionDep, number: int) -> dict[str, Any]:
    return issue_dict(issues.reopen(session, ctx.dataset, number, actor=ctx.actor))


@router.get("/{number}/comments", operation_id="issues-comments")
@requires(Policy.DATASET_READ)
def list_comments(
    ctx: DatasetDep,
    session: SessionDep,
    number: int,
    after: int = Query(0, ge=0, description="Last comment id of the previous page"),
    limit: int = Query(100, ge=1, le=issues.MAX_PAGE),
) -> dict[str, Any]:
    found = issues.list_comments(session, ctx.dataset, number, after=after, limit=limit)
    return paginate(found, limit, comment_dict, lambda c: c.id)


@router.post("/{number}/comments", status_code=status.HTTP_201_CREATED, operation_id="issues-comment")
@requires(Policy.DATASET_WRITE)
def add_comment(ctx: DatasetDep, session: SessionDep, number: int, body: CommentCreate) -> dict[str, Any]:
    return comment_dict(issues.comment(session, ctx.dataset, number, actor=ctx.actor, body=body.body))


@router.post("/{number}/series", status_code=status.HTTP_201_CREATED, operation_id="issues-link-series")
@requires(Policy.DATASET_WRITE)
def link_series(ctx: DatasetDep, session: SessionDep, number: int, body: SeriesLinkCreate) -> dict[str, Any]:
    """Pin a series at the commit ``ref`` names now; 422 when that commit has no such series."""
    link = issues.link_series(
        session,
        ctx.dataset,
        ctx.repo,
        number,
        actor=ctx.actor,
        ref=body.ref,
        series_instance_uid=body.series_instance_uid,
        path=body.path,
        note=body.note,
    )
    return link_dict(link)


@router.delete(
    "/{number}/series/{link_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="issues-unlink-series"
)
@requires(Policy.DATASET_WRITE)
def unlink_series(ctx: DatasetDep, session: SessionDep, request: Request, number: int, link_id: int) -> None:
    """Remove a linked series; one the caller may not open (raw data) they may not remove."""
    link = issues.series_link(session, ctx.dataset, number, link_id)
    gate_refs(session, ctx, request, Role.READ, [link.commit_id])
    issues.unlink_series(session, ctx.dataset, number, link_id, actor=ctx.actor)
