"""Check results of a commit: /api/v1/datasets/{owner}/{name}/commits/{commit}/checks.

ImageHub's own pipeline reports ``metadata-complete``, ``thumbnails`` and ``phi-gate``
directly; through this API an outside CI reports any other check a branch rule requires.
The pipeline's names are refused here, so nobody can mark a PHI gate passed by hand.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from imagehub.core.errors import NotFound
from imagehub.services import checks
from imagehub.services.access import Forbidden
from imagehub_api.deps import DatasetDep, SessionDep
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/commits/{commit}/checks", tags=["checks"])


class CheckReport(BaseModel):
    name: str = Field(pattern=f"^{checks.NAME.pattern}$")
    status: str = Field(pattern="^(pending|success|failure)$")
    summary: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    details_url: str = Field("", pattern=r"^(https?://\S+)?$", description="The CI run, http(s) only")


@router.get("", operation_id="checks-list")
@requires(Policy.DATASET_READ)
def list_checks(ctx: DatasetDep, session: SessionDep, commit: str) -> dict[str, Any]:
    commit_id = ctx.repo.resolve(commit).id
    return {"results": [checks.result_dict(r) for r in checks.results(session, ctx.dataset, commit_id)]}


@router.get("/{check}", operation_id="checks-get")
@requires(Policy.DATASET_READ)
def get_check(ctx: DatasetDep, session: SessionDep, commit: str, check: str) -> dict[str, Any]:
    """One result with its full report (for the PHI gate: every finding, without PHI values)."""
    commit_id = ctx.repo.resolve(commit).id
    found = checks.result(session, ctx.dataset, commit_id, check)
    if found is None:
        raise NotFound(f"no result of check {check!r} on {commit_id[:12]}")
    return checks.result_dict(found, with_details=True)


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="checks-report")
@requires(Policy.DATASET_WRITE)
def report(ctx: DatasetDep, session: SessionDep, commit: str, body: CheckReport) -> dict[str, Any]:
    """Report an outside check's result on a commit; a re-report replaces it."""
    if body.name in checks.PIPELINE_CHECKS:
        raise Forbidden(f"{body.name!r} is reported by ImageHub's pipeline only")
    commit_id = ctx.repo.resolve(commit).id
    row = checks.report(
        session,
        ctx.dataset,
        commit_id,
        body.name,
        status=body.status,
        reporter=ctx.actor,
        summary=body.summary,
        details=body.details,
        details_url=body.details_url,
    )
    return checks.result_dict(row, with_details=True)
