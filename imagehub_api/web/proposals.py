"""Change proposals on the portal: the list, opening one, reviewing what it brings, merging it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from imagehub.core.auth.policy import Role
from imagehub.core.vcs import MergeStrategy, RefKind
from imagehub.core.vcs.commits import get_commit, merge_base
from imagehub.models.proposals import Proposal
from imagehub.services import proposals
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.gates import gate_refs
from imagehub_api.security import Policy, requires
from imagehub_api.web.dataset import frame, pipeline_panel
from imagehub_api.web.history import changes_between
from imagehub_api.web.render import is_htmx, page

router = APIRouter(prefix="/{owner}/{name}/proposals", include_in_schema=False)
PAGE = 50


def _url(ctx: DatasetContext, proposal: Proposal) -> str:
    return f"/{ctx.full_name}/proposals/{proposal.number}"


@router.get("", response_class=HTMLResponse, operation_id="portal-proposals")
@requires(Policy.DATASET_READ)
def list_page(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    state: str = Query("open", pattern="^(open|merged|closed|all)$"),
    after: int = Query(0, ge=0),
) -> HTMLResponse:
    found = proposals.list_proposals(session, ctx.dataset, state=state, after=after, limit=PAGE)
    context = {
        **frame(ctx, "proposals", ctx.dataset.default_branch, None),
        "proposals": found,
        "state": state,
        "next_after": found[-1].number if len(found) == PAGE else None,
    }
    return page(request, "proposals.html", context)


@router.get("/new", response_class=HTMLResponse, operation_id="portal-proposal-form")
@requires(Policy.DATASET_WRITE)
def new_form(
    request: Request,
    ctx: DatasetDep,
    source: str = Query("", max_length=255),
    target: str = Query("", max_length=255),
) -> HTMLResponse:
    context = {
        **frame(ctx, "proposals", target or ctx.dataset.default_branch, None),
        "source": source,
        "target": target or ctx.dataset.default_branch,
    }
    return page(request, "proposal_new.html", context)


@router.post("/new", operation_id="portal-proposal-create")
@requires(Policy.DATASET_WRITE)
def create(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    source: Annotated[str, Form(max_length=255)],
    target: Annotated[str, Form(max_length=255)],
    title: Annotated[str, Form(max_length=255)],
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> RedirectResponse:
    gate_refs(session, ctx, request, Role.WRITE, [source, target])
    created = proposals.create(
        session,
        ctx.dataset,
        ctx.repo,
        actor=ctx.actor,
        source=source,
        target=target,
        title=title,
        description=description,
    )
    return RedirectResponse(_url(ctx, created), status_code=303)


@router.get("/{number}", response_class=HTMLResponse, operation_id="portal-proposal")
@requires(Policy.DATASET_READ)
def detail(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    number: int,
    after: str = Query("", max_length=1100),
) -> HTMLResponse:
    """What merging would bring, from where the branches split to the source's head."""
    found = proposals.get(session, ctx.dataset, number)
    gate_refs(session, ctx, request, Role.READ, [found.source_branch, found.target_branch])
    changes: dict[str, Any] = {}
    if found.state == "open":
        source = ctx.repo.resolve(ctx.repo.get_ref(found.source_branch, RefKind.BRANCH).commit)
        target = ctx.repo.resolve(ctx.repo.get_ref(found.target_branch, RefKind.BRANCH).commit)
        base_id = merge_base(ctx.repo.stores.commits, target.id, source.id)
        base = get_commit(ctx.repo.stores.commits, base_id) if base_id else target
        changes = changes_between(ctx, session, base, source, after, series=not is_htmx(request))
        if is_htmx(request):
            return page(request, "_file_changes.html", changes)
    context = {
        **frame(ctx, "proposals", found.target_branch, None),
        **changes,
        "proposal": found,
        "summary": proposals.summary(ctx.repo, found),
        "strategies": [s.value for s in MergeStrategy],
    }
    if "right" in changes:
        context.update(pipeline_panel(ctx, session, platform, changes["right"]))
    return page(request, "proposal.html", context)


@router.post("/{number}/merge", operation_id="portal-proposal-merge")
@requires(Policy.DATASET_WRITE)
def merge(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    number: int,
    strategy: Annotated[MergeStrategy, Form()] = MergeStrategy.FAIL,
) -> RedirectResponse:
    found = proposals.get(session, ctx.dataset, number)
    gate_refs(session, ctx, request, Role.WRITE, [found.source_branch, found.target_branch])
    proposals.merge(session, ctx.dataset, ctx.repo, number, actor=ctx.actor, strategy=strategy)
    return RedirectResponse(_url(ctx, found), status_code=303)
