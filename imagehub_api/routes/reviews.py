"""Reviews of a change proposal: /api/v1/datasets/{owner}/{name}/proposals/{number}/...

Verdicts (approve, request changes) need write access; reading and commenting need read
access to the dataset and to both of the proposal's branches.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field

from imagehub.core.auth.policy import Role
from imagehub.models.reviews import Review, ReviewComment
from imagehub.services import merge_gate, reviews
from imagehub.services.reviews import Location
from imagehub_api.deps import DatasetDep, SessionDep
from imagehub_api.gates import gated_proposal
from imagehub_api.pagination import page as paginate
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/proposals/{number}", tags=["reviews"])


class ReviewCreate(BaseModel):
    verdict: str = Field(pattern="^(approve|request_changes|comment)$")
    body: str = ""


class PinIn(BaseModel):
    series: str = Field(description="Series key, as in the imaging index (the DICOM SeriesInstanceUID)")
    slice: int = Field(ge=0, description="0-based position of the image in the series")
    x: float = Field(ge=0, description="Column, in pixels")
    y: float = Field(ge=0, description="Row, in pixels")


class CommentCreate(BaseModel):
    body: str
    path: str | None = Field(None, description="A file of the source head, for a file comment")
    location: PinIn | None = Field(None, description="A point of an image, for a pinned comment")


def review_dict(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "reviewer": review.reviewer,
        "verdict": review.verdict,
        "body": review.body,
        "commit": review.commit_id,
        "created_at": review.created_at.isoformat(),
    }


def comment_dict(note: ReviewComment) -> dict[str, Any]:
    pinned = note.series_key is not None
    return {
        "id": note.id,
        "author": note.author,
        "body": note.body,
        "commit": note.commit_id,
        "path": note.path,
        "location": {"series": note.series_key, "slice": note.slice_index, "x": note.x, "y": note.y}
        if pinned
        else None,
        "created_at": note.created_at.isoformat(),
    }


@router.post("/reviews", status_code=status.HTTP_201_CREATED, operation_id="reviews-create")
@requires(Policy.DATASET_WRITE)
def create_review(
    ctx: DatasetDep, session: SessionDep, request: Request, number: int, body: ReviewCreate
) -> dict[str, Any]:
    """Approve, request changes or comment on the proposal's current source head."""
    found = gated_proposal(session, ctx, request, number, Role.READ)
    made = reviews.submit(
        session, ctx.dataset, ctx.repo, found, actor=ctx.actor, verdict=body.verdict, body=body.body
    )
    return review_dict(made)


@router.get("/reviews", operation_id="reviews-list")
@requires(Policy.DATASET_READ)
def list_reviews(ctx: DatasetDep, session: SessionDep, request: Request, number: int) -> dict[str, Any]:
    found = gated_proposal(session, ctx, request, number, Role.READ)
    return {"results": [review_dict(r) for r in reviews.reviews(session, found)]}


@router.post("/comments", status_code=status.HTTP_201_CREATED, operation_id="reviews-comment")
@requires(Policy.DATASET_READ)
def create_comment(
    ctx: DatasetDep, session: SessionDep, request: Request, number: int, body: CommentCreate
) -> dict[str, Any]:
    """A comment on the proposal, on a file (``path``) or pinned to an image point (``location``)."""
    found = gated_proposal(session, ctx, request, number, Role.READ)
    pin = body.location
    location = Location(pin.series, pin.slice, pin.x, pin.y) if pin else None
    note = reviews.comment(
        session,
        ctx.dataset,
        ctx.repo,
        found,
        actor=ctx.actor,
        body=body.body,
        path=body.path,
        location=location,
    )
    return comment_dict(note)


@router.get("/comments", operation_id="reviews-list-comments")
@requires(Policy.DATASET_READ)
def list_comments(
    ctx: DatasetDep,
    session: SessionDep,
    request: Request,
    number: int,
    series: str = Query("", description="Only comments pinned to this series (the viewer's markers)"),
    after: int = Query(0, ge=0),
    limit: int = Query(500, ge=1, le=1000),
) -> dict[str, Any]:
    found = gated_proposal(session, ctx, request, number, Role.READ)
    if series:
        return {
            "results": [comment_dict(c) for c in reviews.pinned(session, found, series)],
            "next_after": None,
        }
    notes = reviews.comments(session, found, after=after, limit=limit)
    return paginate(notes, limit, comment_dict, lambda c: c.id)


@router.get("/readiness", operation_id="reviews-readiness")
@requires(Policy.DATASET_READ)
def readiness(ctx: DatasetDep, session: SessionDep, request: Request, number: int) -> dict[str, Any]:
    """Whether the proposal may merge now, and if not, every reason (approvals, checks)."""
    found = gated_proposal(session, ctx, request, number, Role.READ)
    return merge_gate.readiness(session, ctx.dataset, ctx.repo, found).as_dict()
