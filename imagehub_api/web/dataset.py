"""A dataset's pages at any ref: home (datasheet), folders, one file, series, size fragment."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Role
from imagehub.core.errors import NotFound
from imagehub.core.vcs import Ref, RefKind
from imagehub.core.vcs.changes import prefix_range
from imagehub.core.vcs.repository import MAX_PAGE
from imagehub.core.vcs.types import Commit
from imagehub.services import browse, datasheet, explore, pipeline
from imagehub.services.pipeline import CODE_VERSIONS
from imagehub.services.platform import Platform
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.security import Policy, requires
from imagehub_api.urls import public_base
from imagehub_api.web.render import page

router = APIRouter(prefix="/{owner}/{name}", include_in_schema=False)
REFS_SHOWN = 50
KEPT_PAGES = ("tree", "file", "series", "commits")  # pages the version picker keeps at another ref


def frame(ctx: DatasetContext, tab: str, ref: str, commit: Commit | None) -> dict[str, Any]:
    """What every dataset page's header needs: names, the ref picker, the tabs."""
    return {
        "ds": ctx.dataset,
        "full_name": ctx.full_name,
        "ref": ref,
        "commit": commit,
        "tab": tab,
        "can_write": ctx.role >= Role.WRITE,
        "branches": shown_refs(ctx, RefKind.BRANCH, {ctx.dataset.default_branch, ref}),
        "tags": shown_refs(ctx, RefKind.TAG, {ref}),
    }


def shown_refs(ctx: DatasetContext, kind: RefKind, wanted: set[str]) -> list[Ref]:
    """The first REFS_SHOWN refs by name, and the ``wanted`` ones (the default branch, the
    ref on screen) wherever they sort: pickers and forms must offer them beyond the first page."""
    refs = ctx.repo.list_refs(kind, limit=REFS_SHOWN)
    missing = wanted - {r.name for r in refs}
    refs += [r for r in (ctx.repo.stores.refs.get(name, kind) for name in missing) if r is not None]
    return sorted(refs, key=lambda r: r.name)


def ref_count(ctx: DatasetContext, kind: RefKind) -> int:
    """How many refs of a kind the dataset has, beyond those shown."""
    total, after = 0, ""
    while page := ctx.repo.list_refs(kind, after=after, limit=MAX_PAGE):
        total, after = total + len(page), page[-1].name
        if len(page) < MAX_PAGE:
            break
    return total


def pipeline_panel(
    ctx: DatasetContext, session: Session, platform: Platform, commit: Commit
) -> dict[str, Any]:
    """The pipeline's assets for a commit, and links into the Dagster UI at its partition."""
    url = platform.settings.dagster_url
    return {
        "pipeline": pipeline.commit_status(session, ctx.dataset.id, commit.id, CODE_VERSIONS),
        "dagster": {
            asset: pipeline.dagster_asset_url(url, asset, ctx.full_name, commit.id) for asset in CODE_VERSIONS
        },
    }


@router.get("", response_class=HTMLResponse, operation_id="portal-dataset-home", response_model=None)
@requires(Policy.DATASET_READ)
def home(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    ref: str = "",
    at: str = Query("", max_length=16, description="The page the version picker was used on"),
    path: str = Query("", max_length=1024),
) -> Response:
    if not ref:  # name the ref in the URL, so that the PHI gate sees it like any other
        return RedirectResponse(f"/{ctx.full_name}?ref={quote(ctx.dataset.default_branch, safe='')}", 303)
    if at and (kept := _kept_page(ctx, ref, at, path)):
        return RedirectResponse(kept, 303)
    try:
        commit: Commit | None = ctx.repo.resolve(ref)
    except NotFound:
        if ref != ctx.dataset.default_branch:
            raise
        commit = None  # a dataset whose default branch was deleted still has a home page
    summary = explore.summarise(session, ctx.dataset, ctx.repo, at=commit) if commit else None
    context = {
        **frame(ctx, "home", ref, commit),
        "summary": summary,
        "readme": browse.readme(platform, ctx.repo, commit) if commit else None,
        "clone_command": f"imagehub clone {ctx.full_name} --url {public_base(request)}",
        "branch_count": ref_count(ctx, RefKind.BRANCH),
        "tag_count": ref_count(ctx, RefKind.TAG),
    }
    return page(request, "dataset_home.html", context)


def _kept_page(ctx: DatasetContext, ref: str, at: str, path: str) -> str | None:
    """The page the version picker was used on (``at``: a folder, a file, the series or the
    commits, with its ``path``), at ``ref``, where it exists there; else None (the ref's home)."""
    if at not in KEPT_PAGES:
        return None
    tree = ctx.repo.resolve(ref).tree
    if at == "file" and ctx.repo.tree.get(tree, path) is None:
        return None
    if at == "tree" and path:
        start, end = prefix_range(browse.normalise_folder(path))
        if next(ctx.repo.tree.iterate(tree, start, end), None) is None:
            return None
    where = f"?path={quote(path, safe='')}" if path else ""
    return f"/{ctx.full_name}/{at}/{quote(ref, safe='')}{where}"


@router.post("/datasheet/{branch}", operation_id="portal-dataset-add-datasheet")
@requires(Policy.DATASET_WRITE)
def add_datasheet(
    ctx: DatasetDep, session: SessionDep, platform: PlatformDep, branch: str
) -> RedirectResponse:
    """The home page's offer for a dataset without a datasheet: commit the template, show it."""
    datasheet.add_template(session, platform, ctx.dataset, branch=branch, author=ctx.actor)
    return RedirectResponse(f"/{ctx.full_name}?ref={quote(branch, safe='')}", 303)


@router.get("/-/size/{ref}", response_class=HTMLResponse, operation_id="portal-dataset-size")
@requires(Policy.DATASET_READ)
def size_fragment(request: Request, ctx: DatasetDep, session: SessionDep, ref: str) -> HTMLResponse:
    """Loaded after the page: measuring a manifest the first time walks it."""
    size = browse.tree_size(session, ctx.repo, ctx.repo.resolve(ref))
    return page(request, "_size.html", {"size": size})


@router.get("/tree/{ref}", response_class=HTMLResponse, operation_id="portal-tree")
@requires(Policy.DATASET_READ)
def tree(
    request: Request,
    ctx: DatasetDep,
    ref: str,
    path: str = Query("", max_length=1024),
    after: str = Query("", max_length=1100),
) -> HTMLResponse:
    commit = ctx.repo.resolve(ref)
    folder = browse.list_folder(ctx.repo, commit.id, path, after=after)
    if folder.path and not after and not folder.folders and not folder.files:
        raise NotFound(f"no folder {folder.path!r} at {ref!r}")
    context = {
        **frame(ctx, "files", ref, commit),
        "folder": folder,
        "crumbs": browse.breadcrumbs(folder.path),
    }
    return page(request, "tree.html", context)


@router.get("/file/{ref}", response_class=HTMLResponse, operation_id="portal-file")
@requires(Policy.DATASET_READ)
def file(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    ref: str,
    path: str = Query(max_length=1024),
) -> HTMLResponse:
    commit = ctx.repo.resolve(ref)
    entry = ctx.repo.stat(commit.id, path)
    facts = browse.file_facts(session, ctx.dataset.id, commit.id, entry)
    context = {
        **frame(ctx, "files", ref, commit),
        "entry": entry,
        "facts": facts,
        "document": browse.file_document(platform, entry, facts),
        "crumbs": browse.breadcrumbs(path.rsplit("/", 1)[0] if "/" in path else ""),
        "history": ctx.repo.log(commit.id, path=path, limit=10),
    }
    return page(request, "file.html", context)


@router.get("/series/{ref}", response_class=HTMLResponse, operation_id="portal-series")
@requires(Policy.DATASET_READ)
def series(
    request: Request, ctx: DatasetDep, session: SessionDep, ref: str, after: str = Query("", max_length=128)
) -> HTMLResponse:
    commit = ctx.repo.resolve(ref)
    rows, next_after = browse.series_page(session, ctx.dataset.id, commit.id, after=after)
    context = {
        **frame(ctx, "series", ref, commit),
        "rows": rows,
        "next_after": next_after,
        "files": ctx.repo.count(commit.id),
    }
    return page(request, "series.html", context)
