"""Change proposals of a dataset: /api/v1/datasets/{owner}/{name}/proposals.

The enforcement point checks the refs a request names in its path, query and JSON
body (``source`` among them). A proposal's branches are not in the path of its own
routes, so the routes that open or move their data (create, detail, merge) ask the
same access decision again for both branches, recording any PHI branch opened. On top
of that the service refuses any proposal from a PHI branch into one that is not.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal, Role
from imagehub.core.vcs import MergeStrategy
from imagehub.models.proposals import Proposal
from imagehub.services import access, proposals
from imagehub.services.access import Forbidden
from imagehub_api.deps import DatasetContext, DatasetDep, PrincipalDep, SessionDep
from imagehub_api.gates import gate_new_proposal, gated_proposal
from imagehub_api.pagination import page as paginate
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/proposals", tags=["proposals"])


class ProposalCreate(BaseModel):
    source: str = Field(description="Branch with the changes; named `source` so the PHI gate sees it")
    target: str = Field(description="Branch to merge into")
    source_dataset: str | None = Field(
        None,
        description="owner/name of a dataset derived from this one (a fork) that holds `source`; "
        "empty: the branch is in this dataset",
    )
    title: str
    description: str = ""
    reviewers: list[str] = Field(default_factory=list)


class ProposalUpdate(BaseModel):
    title: str | None = None
    description: str | None = None
    reviewers: list[str] | None = None


class ProposalMerge(BaseModel):
    strategy: MergeStrategy = MergeStrategy.FAIL
    message: str = ""


def proposal_dict(proposal: Proposal, summary: proposals.Summary | None = None) -> dict[str, Any]:
    return {
        "number": proposal.number,
        "title": proposal.title,
        "description": proposal.description,
        "source": proposal.source_branch,
        "source_dataset": fork.full_name if (fork := proposal.source_dataset) else None,
        "target": proposal.target_branch,
        "author": proposal.author,
        "state": proposal.state,
        "reviewers": json.loads(proposal.reviewers),
        "created_at": proposal.created_at.isoformat(),
        "updated_at": proposal.updated_at.isoformat(),
        "merged_commit": proposal.merged_commit,
        "merged_by": proposal.merged_by,
        "closed_by": proposal.closed_by,
        "summary": summary.as_dict() if summary else None,
    }


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="proposals-create")
@requires(Policy.DATASET_READ)
def create(ctx: DatasetDep, session: SessionDep, request: Request, body: ProposalCreate) -> dict[str, Any]:
    """Propose merging ``source`` into ``target``: 422 when there is nothing to merge,
    403 when raw (PHI) data would flow into a branch that is not PHI-bearing.

    Within a dataset this takes write access; from a fork (``source_dataset``), read access
    here and write access to the fork, as contributors from outside work in their own fork."""
    fork = gate_new_proposal(session, ctx, request, body.source, body.target, body.source_dataset or "")
    created = proposals.create(
        session,
        ctx.dataset,
        ctx.repo,
        actor=ctx.actor,
        source=body.source,
        target=body.target,
        title=body.title,
        description=body.description,
        reviewers=body.reviewers,
        source_dataset=fork,
    )
    return proposal_dict(created, proposals.summary(session, ctx.dataset, ctx.repo, created))


@router.get("", operation_id="proposals-list")
@requires(Policy.DATASET_READ)
def list_proposals(
    ctx: DatasetDep,
    session: SessionDep,
    state: str = Query("open", pattern="^(open|merged|closed|all)$"),
    after: int = Query(0, ge=0, description="Last number of the previous page"),
    limit: int = Query(50, ge=1, le=proposals.MAX_PAGE),
) -> dict[str, Any]:
    found = proposals.list_proposals(session, ctx.dataset, state=state, after=after, limit=limit)
    return paginate(found, limit, proposal_dict, lambda p: p.number)


@router.get("/{number}", operation_id="proposals-get")
@requires(Policy.DATASET_READ)
def get(ctx: DatasetDep, session: SessionDep, request: Request, number: int) -> dict[str, Any]:
    """One proposal with what merging it would bring (commits ahead, files changed)."""
    found = gated_proposal(session, ctx, request, number, Role.READ)
    return proposal_dict(found, proposals.summary(session, ctx.dataset, ctx.repo, found))


def _managed(
    session: Session, ctx: DatasetContext, principal: Principal, request: Request, number: int
) -> Proposal:
    """A proposal a writer may edit, close or reopen, and so may the author of one from a
    fork they may still write (a fork's author may only read the target), through a token
    that may write."""
    found = gated_proposal(session, ctx, request, number, Role.READ)
    if ctx.role >= Role.WRITE:
        return found
    fork = found.source_dataset
    if found.author != ctx.actor or fork is None or access.role_of(session, principal, fork) < Role.WRITE:
        raise Forbidden(
            f"write access to {ctx.dataset.full_name} is needed (for your proposal from a fork: to the fork)"
        )
    return found


@router.patch("/{number}", operation_id="proposals-update")
@requires(Policy.DATASET_READ)
def update(
    ctx: DatasetDep,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    number: int,
    body: ProposalUpdate,
) -> dict[str, Any]:
    """Change the title, description or reviewers (the author, or anyone who may write)."""
    _managed(session, ctx, principal, request, number)
    updated = proposals.update(
        session,
        ctx.dataset,
        number,
        actor=ctx.actor,
        title=body.title,
        description=body.description,
        reviewers=body.reviewers,
    )
    return proposal_dict(updated, proposals.summary(session, ctx.dataset, ctx.repo, updated))


@router.post("/{number}/close", operation_id="proposals-close")
@requires(Policy.DATASET_READ)
def close(
    ctx: DatasetDep, session: SessionDep, principal: PrincipalDep, request: Request, number: int
) -> dict[str, Any]:
    """Close without merging (the author, or anyone who may write)."""
    _managed(session, ctx, principal, request, number)
    return proposal_dict(proposals.close(session, ctx.dataset, number, actor=ctx.actor))


@router.post("/{number}/reopen", operation_id="proposals-reopen")
@requires(Policy.DATASET_READ)
def reopen(
    ctx: DatasetDep, session: SessionDep, principal: PrincipalDep, request: Request, number: int
) -> dict[str, Any]:
    """Open a closed proposal again (the author, or anyone who may write)."""
    _managed(session, ctx, principal, request, number)
    reopened = proposals.reopen(session, ctx.dataset, ctx.repo, number, actor=ctx.actor)
    return proposal_dict(reopened, proposals.summary(session, ctx.dataset, ctx.repo, reopened))


@router.post("/{number}/merge", operation_id="proposals-merge")
@requires(Policy.DATASET_WRITE)
def merge(
    ctx: DatasetDep, session: SessionDep, request: Request, number: int, body: ProposalMerge
) -> dict[str, Any]:
    """Merge an open proposal, also into a protected branch; 409 lists conflicting paths
    under strategy ``fail``, or the approvals and checks still missing (with their
    reports); 403 refuses raw (PHI) data flowing into a de-identified branch."""
    gated_proposal(session, ctx, request, number, Role.WRITE)
    merged = proposals.merge(
        session, ctx.dataset, ctx.repo, number, actor=ctx.actor, strategy=body.strategy, message=body.message
    )
    return proposal_dict(merged)
