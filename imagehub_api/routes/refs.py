"""Branches and tags: /api/v1/datasets/{owner}/{name}/branches|tags."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, status

from imagehub.core.auth.policy import Role
from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import Ref, RefKind
from imagehub.services import access, reviews, tags
from imagehub_api.deps import DatasetDep, SessionDep
from imagehub_api.gates import gate_refs
from imagehub_api.pagination import page as paginate
from imagehub_api.schemas import BranchCreate, Protection, TagCreate
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}", tags=["refs"])


def _page(ctx: DatasetDep, kind: RefKind, prefix: str, after: str, limit: int) -> dict[str, Any]:
    refs = ctx.repo.list_refs(kind, prefix=prefix, after=after, limit=limit)
    return paginate(refs, limit, Ref.as_dict, lambda r: r.name)


@router.get("/branches", operation_id="refs-list-branches")
@requires(Policy.DATASET_READ)
def list_branches(
    ctx: DatasetDep, prefix: str = "", after: str = "", limit: int = Query(100, ge=1, le=1000)
) -> dict[str, Any]:
    return _page(ctx, RefKind.BRANCH, prefix, after, limit)


@router.post("/branches", status_code=status.HTTP_201_CREATED, operation_id="refs-create-branch")
@requires(Policy.DATASET_WRITE)
def create_branch(
    ctx: DatasetDep, session: SessionDep, request: Request, body: BranchCreate
) -> dict[str, Any]:
    """Branch from any ref in constant time: no data is copied. A plain branch may not start
    from data only the PHI branches hold (403); a PHI branch is made only by those who may
    open one, with a purpose of use (as deleting it needs)."""
    gate_refs(session, ctx, request, Role.WRITE, [], new_branches=[body.name])
    access.refuse_phi_copy(session, ctx.dataset, body.source, body.name)
    created = ctx.repo.create_branch(body.name, body.source)
    ctx.record(
        session, "branch.create", ref=body.name, commit=created.commit, details={"source": body.source}
    )
    return created.as_dict()


@router.get("/branches/{branch}", operation_id="refs-get-branch")
@requires(Policy.DATASET_READ)
def get_branch(ctx: DatasetDep, branch: str) -> dict[str, Any]:
    return ctx.repo.get_ref(branch, RefKind.BRANCH).as_dict()


@router.delete(
    "/branches/{branch}", status_code=status.HTTP_204_NO_CONTENT, operation_id="refs-delete-branch"
)
@requires(Policy.DATASET_WRITE)
def delete_branch(ctx: DatasetDep, session: SessionDep, branch: str) -> None:
    """The audit trail keeps the commit the branch pointed at, so it can be recreated."""
    found = ctx.repo.get_ref(branch, RefKind.BRANCH)
    ctx.repo.delete_ref(branch, RefKind.BRANCH, default_branch=ctx.dataset.default_branch)
    ctx.record(session, "branch.delete", ref=branch, commit=found.commit)


def _protection(ctx: DatasetDep, session: SessionDep, branch: str) -> dict[str, Any]:
    rule = reviews.rule(session, ctx.dataset, branch)
    return {**ctx.repo.get_ref(branch, RefKind.BRANCH).as_dict(), **reviews.rule_dict(rule)}


@router.put("/branches/{branch}/protection", operation_id="refs-protect-branch")
@requires(Policy.DATASET_ADMIN)
def protect_branch(ctx: DatasetDep, session: SessionDep, branch: str, body: Protection) -> dict[str, Any]:
    """A protected branch takes no direct commits: changes arrive by merge only, of a change
    proposal with the approvals and passing checks set here. A branch that requires approvals
    stays protected, or direct commits would skip them."""
    current = reviews.rule(session, ctx.dataset, branch)
    approvals = body.required_approvals
    if approvals is None:
        approvals = current.required_approvals if current else 0
    if not body.protected and approvals:
        raise InvalidInput(
            f"branch {branch!r} requires {approvals} approval(s): set required_approvals to 0 "
            "to lift its protection"
        )
    ctx.repo.set_protected(branch, body.protected)
    ctx.record(session, "branch.protection", ref=branch, details={"protected": body.protected})
    if body.required_approvals is not None or body.required_checks is not None:
        reviews.set_rule(
            session,
            ctx.dataset,
            branch,
            actor=ctx.actor,
            required_approvals=body.required_approvals,
            required_checks=body.required_checks,
        )
    return _protection(ctx, session, branch)


@router.get("/branches/{branch}/protection", operation_id="refs-get-protection")
@requires(Policy.DATASET_READ)
def get_protection(ctx: DatasetDep, session: SessionDep, branch: str) -> dict[str, Any]:
    return _protection(ctx, session, branch)


@router.get("/tags", operation_id="refs-list-tags")
@requires(Policy.DATASET_READ)
def list_tags(
    ctx: DatasetDep, prefix: str = "", after: str = "", limit: int = Query(100, ge=1, le=1000)
) -> dict[str, Any]:
    return _page(ctx, RefKind.TAG, prefix, after, limit)


@router.post("/tags", status_code=status.HTTP_201_CREATED, operation_id="refs-create-tag")
@requires(Policy.DATASET_WRITE)
def create_tag(ctx: DatasetDep, session: SessionDep, body: TagCreate) -> dict[str, Any]:
    """Tags are immutable: creating an existing name is a conflict. On an internal or public
    dataset the PHI gate must have passed on the commit first (409 ``Blocked`` otherwise)."""
    created = tags.create(
        session, ctx.dataset, ctx.repo, name=body.name, ref=body.ref, message=body.message, actor=ctx.actor
    )
    return created.as_dict()


@router.get("/tags/{tag}", operation_id="refs-get-tag")
@requires(Policy.DATASET_READ)
def get_tag(ctx: DatasetDep, tag: str) -> dict[str, Any]:
    return ctx.repo.get_ref(tag, RefKind.TAG).as_dict()


@router.delete("/tags/{tag}", status_code=status.HTTP_204_NO_CONTENT, operation_id="refs-delete-tag")
@requires(Policy.DATASET_ADMIN)
def delete_tag(ctx: DatasetDep, session: SessionDep, tag: str) -> None:
    tags.delete(session, ctx.dataset, ctx.repo, name=tag, actor=ctx.actor)
