"""Access decisions for refs a request does not name in its path or body.

A proposal's branches are stored with it; routes that act on a proposal by number ask
here, in the request's transaction, exactly what the enforcement point asks for named refs.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal, Role
from imagehub.models.dataset import Dataset
from imagehub.models.proposals import Proposal
from imagehub.services import access, audit, proposals
from imagehub_api.deps import DatasetContext
from imagehub_api.security import client_ip, stated_purpose


def gate_refs(
    session: Session,
    ctx: DatasetContext,
    request: Request,
    need: Role,
    refs: list[str],
    new_branches: Sequence[str] = (),
) -> None:
    """The enforcement point's decision for branches the request path does not name, or
    that it makes (``new_branches``, see ``access.decide``)."""
    principal: Principal = request.state.principal
    purpose = stated_purpose(request)
    decision = access.decide(
        session,
        principal,
        owner=ctx.dataset.owner,
        name=ctx.dataset.name,
        need=need,
        refs=refs,
        purpose=purpose,
        new_branches=new_branches,
    )
    for ref in decision.phi_refs:  # on record in the same transaction as the action
        ctx.record(session, "phi.open", ref=ref, ip=client_ip(request), purpose=purpose)


def gate_fork(
    session: Session, ctx: DatasetContext, request: Request, full_name: str, branch: str
) -> Dataset:
    """A derived dataset (fork) whose ``branch`` the caller may write, PHI rules included: only
    those who control a fork share its branch with the dataset it came from (its readers see
    it once proposed). Opening a PHI branch is on record in the fork's audit trail."""
    owner, _, name = full_name.partition("/")
    principal: Principal = request.state.principal
    purpose = stated_purpose(request)
    decision = access.decide(
        session, principal, owner=owner, name=name, need=Role.WRITE, refs=[branch], purpose=purpose
    )
    for ref in decision.phi_refs:
        audit.record(
            session,
            actor=ctx.actor,
            action="phi.open",
            dataset=full_name,
            ref=ref,
            ip=client_ip(request),
            purpose=purpose,
        )
    return decision.dataset


def gate_new_proposal(
    session: Session, ctx: DatasetContext, request: Request, source: str, target: str, source_dataset: str
) -> Dataset | None:
    """Who may open a proposal: within a dataset, writers (both branches gated); from a fork
    (``source_dataset``, owner/name), anyone who may read the target and write the fork.
    Returns the fork, or None."""
    if source_dataset and source_dataset != ctx.full_name:
        gate_refs(session, ctx, request, Role.READ, [target])
        return gate_fork(session, ctx, request, source_dataset, source)
    gate_refs(session, ctx, request, Role.WRITE, [source, target])
    return None


def gated_proposal(
    session: Session, ctx: DatasetContext, request: Request, number: int, need: Role
) -> Proposal:
    """A proposal by number, once the caller may ``need`` both of its branches.

    A fork's branch is shared with this dataset by proposing it: whoever may ``need`` the
    target branch sees it. Raw (PHI) data stays behind the same gate, since a fork's PHI
    branch is only ever proposed into a PHI branch here (``proposals.create``).
    """
    found = proposals.get(session, ctx.dataset, number)
    if found.source_dataset_id is None:
        gate_refs(session, ctx, request, need, [found.source_branch, found.target_branch])
    else:
        gate_refs(session, ctx, request, need, [found.target_branch])
    return found
