"""Releases of a dataset: /api/v1/datasets/{owner}/{name}/releases.

A release is an immutable, citable version: a tag plus notes, a citation and a summary
of the manifest frozen at creation. The JSON body names ``ref`` so that the enforcement
point sees it; the service refuses to release a PHI-bearing branch.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from imagehub.models.releases import Release
from imagehub.services import releases
from imagehub_api.deps import DatasetDep, SessionDep
from imagehub_api.security import Policy, requires
from imagehub_api.urls import public_base

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/releases", tags=["releases"])


class ReleaseCreate(BaseModel):
    ref: str = Field(description="Branch, tag or commit to release; named `ref` so the PHI gate sees it")
    tag: str
    title: str
    notes: str = ""
    doi: str = ""
    authors: list[str] = Field(default_factory=list)


def release_dict(session: Session, release: Release) -> dict[str, Any]:
    return {
        "id": release.id,
        "tag": release.tag,
        "commit": release.commit_id,
        "title": release.title,
        "notes": release.notes,
        "doi": release.doi,
        "authors": releases.authors_of(release),
        "summary": releases.summary_of(session, release).as_dict(),
        "created_by": release.created_by,
        "created_at": release.created_at.isoformat(),
    }


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="releases-create")
@requires(Policy.DATASET_WRITE)
def create(ctx: DatasetDep, session: SessionDep, body: ReleaseCreate) -> dict[str, Any]:
    """Tag ``ref`` as a release: 409 when the tag exists, 403 for a PHI-bearing branch."""
    created = releases.create(
        session,
        ctx.dataset,
        ctx.repo,
        tag=body.tag,
        ref=body.ref,
        title=body.title,
        actor=ctx.actor,
        notes=body.notes,
        doi=body.doi,
        authors=body.authors,
    )
    return release_dict(session, created)


@router.get("", operation_id="releases-list")
@requires(Policy.DATASET_READ)
def list_releases(
    ctx: DatasetDep,
    session: SessionDep,
    before: int | None = Query(None, ge=1, description="Id of the last release of the previous page"),
    limit: int = Query(50, ge=1, le=releases.MAX_PAGE),
) -> dict[str, Any]:
    found = releases.list_releases(session, ctx.dataset, before=before, limit=limit)
    return {
        "results": [release_dict(session, r) for r in found],
        "next_before": found[-1].id if found and len(found) == limit else None,
    }


@router.get("/{tag}", operation_id="releases-get")
@requires(Policy.DATASET_READ)
def get(ctx: DatasetDep, session: SessionDep, tag: str) -> dict[str, Any]:
    return release_dict(session, releases.get(session, ctx.dataset, tag))


@router.get("/{tag}/citation", operation_id="releases-citation", response_class=PlainTextResponse)
@requires(Policy.DATASET_READ)
def citation(
    ctx: DatasetDep,
    session: SessionDep,
    request: Request,
    owner: str,
    name: str,
    tag: str,
    format: str = Query("cff", pattern="^(cff|bibtex)$"),
) -> PlainTextResponse:
    """CITATION.cff or BibTeX for the release, as an attachment."""
    found = releases.get(session, ctx.dataset, tag)
    url = f"{public_base(request)}/{owner}/{name}/releases/{tag}"
    if format == "bibtex":
        text, filename = releases.citation_bibtex(found, ctx.dataset, url), f"{tag}.bib"
    else:
        text, filename = releases.citation_cff(found, ctx.dataset, url), "CITATION.cff"
    return PlainTextResponse(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
