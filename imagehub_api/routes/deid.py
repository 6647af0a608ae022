"""De-identification over HTTP: a dataset's policy, a run's verification report, and the
sealed re-identification map (admins only, with a stated purpose, always audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from imagehub.services import deid
from imagehub_api.deps import DatasetDep, PlatformDep, SessionDep
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/deid", tags=["de-identification"])


class PolicyBody(BaseModel):
    profile: str | None = Field(None, description="basic or research")
    recipe: str | None = Field(None, description="Custom rules in the deid recipe format")
    branch: str | None = Field(None, description="Branch that receives de-identified commits")
    ocr: str | None = Field(None, pattern="^(tesseract|easyocr|none)$")
    scan_all_pixels: bool | None = None
    keep_reidentification_map: bool | None = None


@router.get("/policy", operation_id="deid-get-policy")
@requires(Policy.DATASET_READ)
def get_policy(ctx: DatasetDep) -> dict[str, Any]:
    return deid.policy_dict(ctx.dataset)


@router.patch("/policy", operation_id="deid-update-policy")
@requires(Policy.DATASET_ADMIN)
def update_policy(ctx: DatasetDep, session: SessionDep, body: PolicyBody) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    return deid.update_policy(session, dataset=ctx.dataset, actor=ctx.actor, changes=changes)


@router.get("/report", operation_id="deid-report")
@requires(Policy.DATASET_READ)
def report(ctx: DatasetDep, platform: PlatformDep, commit: str) -> dict[str, Any]:
    """What was done to every file of a de-identified commit (no input paths or identities)."""
    return deid.report(platform, ctx.dataset.id, ctx.repo.resolve(commit).id)


@router.get("/reid-map", operation_id="deid-reid-map")
@requires(Policy.DATASET_ADMIN)
def reid_map(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    commit: str,
    purpose: str = Header(..., alias="X-Purpose-Of-Use", min_length=1),
) -> dict[str, Any]:
    """Output file → source path and original UIDs, where the dataset's policy keeps a map."""
    resolved = ctx.repo.resolve(commit).id
    return deid.read_reid_map(
        session, platform, dataset=ctx.dataset, commit_id=resolved, actor=ctx.actor, purpose=purpose
    )
