"""Who may use a dataset: grants, settings (visibility, PHI branches), access requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal, Role
from imagehub.core.errors import NotFound
from imagehub.models.accounts import AccessRequest
from imagehub.models.dataset import Dataset
from imagehub.services import access, datasets
from imagehub_api.deps import DatasetDep, PrincipalDep, SessionDep
from imagehub_api.schemas import dataset_dict
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}", tags=["access"])


class GrantBody(BaseModel):
    user: str = ""
    team: str = Field("", description="org/team")
    role: str = Field(pattern="^(read|write|admin)$")


class RevokeBody(BaseModel):
    user: str = ""
    team: str = ""


class SettingsBody(BaseModel):
    visibility: str | None = Field(None, pattern="^(private|internal|public)$")
    phi_branches: list[str] | None = Field(None, description="Branch name patterns that hold raw (PHI) data")
    phi_role: str | None = Field(None, pattern="^(read|write|admin)$")
    agreement: str | None = Field(None, description="Data-use agreement shown to access requesters")


class RequestBody(BaseModel):
    role: str = Field("read", pattern="^(read|write|admin)$")
    purpose: str = Field(min_length=1)
    accepted_agreement: str = Field(description="The agreement text, exactly as the requester accepted it")


class DecisionBody(BaseModel):
    approve: bool
    note: str = ""


def _request_dict(req: AccessRequest) -> dict[str, Any]:
    return {
        "id": req.id,
        "user_id": req.user_id,
        "role": req.role,
        "purpose": req.purpose,
        "agreement_sha256": req.agreement_sha256,
        "status": req.status,
        "decided_by": req.decided_by,
        "decision_note": req.decision_note,
    }


@router.get("/grants", operation_id="access-list-grants")
@requires(Policy.DATASET_ADMIN)
def list_grants(ctx: DatasetDep, session: SessionDep) -> dict[str, Any]:
    return {"results": access.list_grants(session, ctx.dataset)}


@router.put("/grants", operation_id="access-grant")
@requires(Policy.DATASET_ADMIN)
def grant(ctx: DatasetDep, session: SessionDep, body: GrantBody) -> dict[str, Any]:
    found = access.grant(
        session, dataset=ctx.dataset, role=body.role, actor=ctx.actor, username=body.user, team=body.team
    )
    return {"user": body.user or None, "team": body.team or None, "role": found.role}


@router.post("/grants/revoke", status_code=status.HTTP_204_NO_CONTENT, operation_id="access-revoke")
@requires(Policy.DATASET_ADMIN)
def revoke(ctx: DatasetDep, session: SessionDep, body: RevokeBody) -> None:
    access.revoke(session, dataset=ctx.dataset, actor=ctx.actor, username=body.user, team=body.team)


@router.patch("/settings", operation_id="access-update-settings")
@requires(Policy.DATASET_ADMIN)
def update_settings(ctx: DatasetDep, session: SessionDep, body: SettingsBody) -> dict[str, Any]:
    updated = access.update_settings(session, dataset=ctx.dataset, actor=ctx.actor, **body.model_dump())
    return dataset_dict(updated)


@router.get("/agreement", operation_id="access-get-agreement")
@requires(Policy.AUTHENTICATED)
def get_agreement(owner: str, name: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """The data-use agreement a requester must accept (for datasets they can see)."""
    return {"agreement": _requestable(session, principal, owner, name).agreement}


def _requestable(session: Session, principal: Principal, owner: str, name: str) -> Dataset:
    """A dataset the caller may ask for more access to: one they can see, through a token
    that may reach it. Anything else answers exactly as a dataset that does not exist."""
    hidden = access.AccessDenied(f"dataset {owner}/{name} not found")
    try:
        dataset = datasets.get(session, owner=owner, name=name)
    except NotFound:
        raise hidden from None
    if principal.token_dataset_id not in (None, dataset.id):
        raise hidden
    if dataset.visibility == "private" and access.role_of(session, principal, dataset) < Role.READ:
        raise hidden
    return dataset


@router.post("/access-requests", status_code=status.HTTP_201_CREATED, operation_id="access-request")
@requires(Policy.AUTHENTICATED)
def request_access(
    owner: str, name: str, session: SessionDep, principal: PrincipalDep, body: RequestBody
) -> dict[str, Any]:
    """Ask for a role on a dataset, accepting its data-use agreement; one request waits at a
    time, and a role the caller already has is not asked for."""
    dataset = _requestable(session, principal, owner, name)
    created = access.request_access(
        session,
        dataset=dataset,
        principal=principal,
        role=body.role,
        purpose=body.purpose,
        accepted_agreement=body.accepted_agreement,
    )
    return _request_dict(created)


@router.get("/access-requests", operation_id="access-list-requests")
@requires(Policy.DATASET_ADMIN)
def list_requests(ctx: DatasetDep, session: SessionDep, status_filter: str = "pending") -> dict[str, Any]:
    return {"results": [_request_dict(r) for r in access.list_requests(session, ctx.dataset, status_filter)]}


@router.post("/access-requests/{request_id}/decision", operation_id="access-decide")
@requires(Policy.DATASET_ADMIN)
def decide(ctx: DatasetDep, session: SessionDep, request_id: int, body: DecisionBody) -> dict[str, Any]:
    decided = access.decide_request(
        session,
        dataset=ctx.dataset,
        request_id=request_id,
        approve=body.approve,
        actor=ctx.actor,
        note=body.note,
    )
    return _request_dict(decided)
