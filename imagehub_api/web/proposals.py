"""Change proposals on the portal: the list, opening one, reviewing what it brings, merging it.

The proposal page shows what the merge gate decides (approvals and required checks, with each
check's report), so the reason a merge is blocked is on the page before anyone presses Merge;
reviewers give verdicts and comment there, also on a file or at a point of an image, which the
side-by-side viewer of a changed series draws as a marker on its slice.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Role
from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.vcs import MergeConflict, MergeStrategy, RefKind
from imagehub.core.vcs.commits import get_commit, merge_base
from imagehub.models.proposals import Proposal
from imagehub.services import checks, forks, merge_gate, proposal_source, proposals, reviews
from imagehub.services.platform import Platform
from imagehub.services.reviews import Location
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.gates import gate_new_proposal, gated_proposal
from imagehub_api.security import Policy, requires
from imagehub_api.web.assets import preloads
from imagehub_api.web.dataset import frame, pipeline_panel
from imagehub_api.web.forms import form_page
from imagehub_api.web.history import changes_between
from imagehub_api.web.render import is_htmx, page
from imagehub_api.web.viewer import series_side

PROPOSALS = "/{owner}/{name}/proposals"
router = APIRouter(prefix=PROPOSALS, include_in_schema=False)
PAGE = 50
CONFLICTS_SHOWN = 200  # rows of the conflict table; the count says how many more
COMMENTS_SHOWN = 1000  # the service's largest page; a longer thread is read through the API
TextField = Annotated[str, Form(max_length=reviews.MAX_BODY)]


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
@requires(Policy.DATASET_READ)
def new_form(
    request: Request,
    ctx: DatasetDep,
    source: str = Query("", max_length=255),
    target: str = Query("", max_length=255),
    source_dataset: str = Query("", max_length=200),
) -> HTMLResponse:
    """Writers propose a branch of this dataset; anyone who may read it, a branch of their fork."""
    context = {
        **frame(ctx, "proposals", target or ctx.dataset.default_branch, None),
        "source": source,
        "target": target or ctx.dataset.default_branch,
        "source_dataset": source_dataset,
    }
    return page(request, "proposal_new.html", context)


@router.post("/new", operation_id="portal-proposal-create")
@requires(Policy.DATASET_READ)
@form_page(f"{PROPOSALS}/new")
def create(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    source: Annotated[str, Form(max_length=255)],
    target: Annotated[str, Form(max_length=255)],
    title: Annotated[str, Form(max_length=255)],
    description: Annotated[str, Form(max_length=20_000)] = "",
    source_dataset: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    fork = gate_new_proposal(session, ctx, request, source, target, source_dataset.strip())
    created = proposals.create(
        session,
        ctx.dataset,
        ctx.repo,
        actor=ctx.actor,
        source=source,
        target=target,
        title=title,
        description=description,
        source_dataset=fork,
    )
    return RedirectResponse(_url(ctx, created), status_code=303)


def _timeline(session: Session, proposal: Proposal) -> list[dict[str, Any]]:
    """Verdicts and comments in the order they were given."""
    found = [{"kind": "review", "at": r.created_at, "item": r} for r in reviews.reviews(session, proposal)]
    found += [
        {"kind": "comment", "at": c.created_at, "item": c}
        for c in reviews.comments(session, proposal, limit=COMMENTS_SHOWN)
    ]
    return sorted(found, key=lambda entry: entry["at"])


def _readiness(session: Session, ctx: DatasetContext, proposal: Proposal) -> dict[str, Any]:
    """The merge gate's answer, with a report link for each check that has a result (a fork's
    proposal has its checks reported on the fork)."""
    found = merge_gate.readiness(session, ctx.dataset, ctx.repo, proposal)
    about = reviews.reviewed(session, ctx.dataset, ctx.repo, proposal).dataset
    reports = {c.name: checks.report_url(about, found.head, c.name) for c in found.checks if c.updated_at}
    return {"readiness": found, "check_reports": reports}


def _series_review(
    session: Session, ctx: DatasetContext, proposal: Proposal, changes: dict[str, Any], key: str
) -> dict[str, Any]:
    """One changed series before and after, with the comments pinned to it as the after side's markers."""
    sides = [
        ("before", series_side(ctx, session, changes["left"], key)),
        ("after", series_side(ctx, session, changes["right"], key)),
    ]
    markers = [
        {
            "id": c.id,
            "slice": c.slice_index,
            "x": c.x,
            "y": c.y,
            "label": f"{c.author}: {c.body[:120]}",
            "href": f"#comment-{c.id}",
        }
        for c in reviews.pinned(session, proposal, key)
    ]
    return {
        "review_series": key,
        "review_sides": sides,
        "markers": markers,
        "preloads": preloads({side["widget"]["kind"] for _, side in sides if side}),
    }


@router.get("/{number}", response_class=HTMLResponse, operation_id="portal-proposal")
@requires(Policy.DATASET_READ)
def detail(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    number: int,
    after: str = Query("", max_length=1100),
    series: str = Query("", max_length=128, description="A changed series to review side by side"),
) -> HTMLResponse:
    """What merging would bring, from where the branches split to the source's head."""
    found = gated_proposal(session, ctx, request, number, Role.READ)
    context = _page_context(request, ctx, session, platform, found, after, series)
    if is_htmx(request) and "file_changes" in context:  # the next page of changed files
        if "changes_full_name" in context:  # a fork's: they open in the fork
            context = {**context, "full_name": context["changes_full_name"]}
        return page(request, "_file_changes.html", context)
    return page(request, "proposal.html", context)


def _page_context(
    request: Request,
    ctx: DatasetContext,
    session: Session,
    platform: Platform,
    found: Proposal,
    after: str = "",
    series: str = "",
) -> dict[str, Any]:
    context = {
        **frame(ctx, "proposals", found.target_branch, None),
        "proposal": found,
        "summary": proposals.summary(session, ctx.dataset, ctx.repo, found),
        "strategies": [s.value for s in MergeStrategy],
        "timeline": _timeline(session, found),
    }
    if found.state != "open":
        return context
    try:  # a branch (or the fork) deleted since: the proposal still reads, and can be closed
        head = proposal_source.of(session, ctx.dataset, ctx.repo, found).head()
        target = ctx.repo.resolve(ctx.repo.get_ref(found.target_branch, RefKind.BRANCH).commit)
    except (NotFound, InvalidInput) as gone:
        return {**context, "source_gone": str(gone)}
    if found.source_dataset is not None:
        return {**context, **_fork_changes(ctx, session, found, after), **_readiness(session, ctx, found)}
    source = ctx.repo.resolve(head)
    base_id = merge_base(ctx.repo.stores.commits, target.id, source.id)
    base = get_commit(ctx.repo.stores.commits, base_id) if base_id else target
    changes = changes_between(ctx, session, base, source, after, series=not is_htmx(request))
    context.update(changes)
    context.update(pipeline_panel(ctx, session, platform, changes["right"]))
    context.update(_readiness(session, ctx, found))
    if series:
        context.update(_series_review(session, ctx, found, changes, series))
    return context


def _fork_changes(ctx: DatasetContext, session: Session, found: Proposal, after: str) -> dict[str, Any]:
    """A fork's change since it was derived; its files open in the fork (``changes_full_name``),
    its series and viewers on the fork's compare page."""
    assert found.source_dataset is not None
    fork = forks.fork_branch(session, ctx.dataset, found.source_dataset, found.source_branch)
    fork_ctx = DatasetContext(fork.fork, fork.repo, ctx.actor, Role.READ)
    changes = changes_between(fork_ctx, session, fork.base, fork.head, after, series=False)
    changes["changes_full_name"] = changes.pop("full_name")
    return {
        **changes,
        "fork_label": fork.label,
        "fork_compare": f"/{fork.fork.full_name}/compare?left={fork.base.id}&right={fork.head.id}",
    }


@router.post("/{number}/reviews", operation_id="portal-proposal-review")
@requires(Policy.DATASET_WRITE)
@form_page(PROPOSALS + "/{number}")
def review(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    number: int,
    verdict: Annotated[str, Form(max_length=16)],
    body: TextField = "",
) -> RedirectResponse:
    """A verdict changes what the page's readiness panel says, so the whole page comes back."""
    found = gated_proposal(session, ctx, request, number, Role.READ)
    made = reviews.submit(session, ctx.dataset, ctx.repo, found, actor=ctx.actor, verdict=verdict, body=body)
    return RedirectResponse(f"{_url(ctx, found)}#review-{made.id}", status_code=303)


def _location(series: str, slice_: int | None, x: float | None, y: float | None) -> Location | None:
    if not series:
        return None
    if slice_ is None or x is None or y is None:
        raise InvalidInput(
            "a comment pinned to an image needs its slice, x and y (click the image in pin mode)"
        )
    return Location(series, slice_, x, y)


@router.post("/{number}/comments", operation_id="portal-proposal-comment", response_model=None)
@requires(Policy.DATASET_READ)
@form_page(PROPOSALS + "/{number}?series={series}")  # a pinned comment's form is in its series view
def comment(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    number: int,
    body: TextField,
    path: Annotated[str, Form(max_length=1024)] = "",
    series: Annotated[str, Form(max_length=128)] = "",
    slice_: Annotated[int | None, Form(alias="slice", ge=0)] = None,
    x: Annotated[float | None, Form(ge=0)] = None,
    y: Annotated[float | None, Form(ge=0)] = None,
) -> Response:
    """A comment on the proposal, on a file (``path``) or at an image point (``series``, ``slice``,
    ``x``, ``y``). With HTMX a plain comment comes back alone for the page to append; a pinned one
    reloads the series view, whose viewer then draws it."""
    found = gated_proposal(session, ctx, request, number, Role.READ)
    location = _location(series, slice_, x, y)
    note = reviews.comment(
        session,
        ctx.dataset,
        ctx.repo,
        found,
        actor=ctx.actor,
        body=body,
        path=path or None,
        location=location,
    )
    if is_htmx(request) and location is None:
        context = {"entry": {"kind": "comment", "item": note}, "proposal": found, "full_name": ctx.full_name}
        return page(request, "_proposal_entry.html", context)
    where = f"?series={quote(series, safe='')}" if location else ""
    return RedirectResponse(f"{_url(ctx, found)}{where}#comment-{note.id}", status_code=303)


@router.post("/{number}/merge", operation_id="portal-proposal-merge", response_model=None)
@requires(Policy.DATASET_WRITE)
def merge(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    number: int,
    strategy: Annotated[MergeStrategy, Form()] = MergeStrategy.FAIL,
) -> Response:
    """Merge, or show the page again with every conflicting path in both versions."""
    found = gated_proposal(session, ctx, request, number, Role.WRITE)
    try:
        proposals.merge(session, ctx.dataset, ctx.repo, number, actor=ctx.actor, strategy=strategy)
    except MergeConflict as conflict:
        context = _page_context(request, ctx, session, platform, found)
        context["conflicts"] = _conflicts(ctx, session, found, conflict)
        return page(request, "proposal.html", context, status_code=409)
    return RedirectResponse(_url(ctx, found), status_code=303)


def _conflicts(
    ctx: DatasetContext, session: Session, found: Proposal, conflict: MergeConflict
) -> dict[str, Any]:
    """Each conflicting path with the target's and the source's version (and the base's size);
    the commits name where each version can be opened."""
    about = reviews.reviewed(session, ctx.dataset, ctx.repo, found)
    return {
        "paths": conflict.conflicts[:CONFLICTS_SHOWN],
        "more": max(len(conflict.conflicts) - CONFLICTS_SHOWN, 0),
        "target_commit": ctx.repo.get_ref(found.target_branch, RefKind.BRANCH).commit,
        "source_commit": about.commit,
        "source_full_name": about.dataset.full_name,
    }
