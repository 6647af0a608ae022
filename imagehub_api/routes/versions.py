"""Commits, history, objects, diff, merge and revert of a dataset."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from imagehub.core.vcs import BlobStore, Change, Commit, Entry, RefKind
from imagehub.services import access, blobs, merge_gate
from imagehub.services.platform import Platform
from imagehub_api.deps import DatasetContext, DatasetDep, HolderDep, PlatformDep, SessionDep
from imagehub_api.errors import BINARY_BODY, ErrorBody
from imagehub_api.headers import stored_file_headers
from imagehub_api.pagination import page as paginate
from imagehub_api.ranges import parse_range
from imagehub_api.schemas import CommitCreate, MergeCreate, RevertCreate
from imagehub_api.security import Policy, client_ip, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}", tags=["versions"])
Limit = Query(1000, ge=1, le=10_000)


@router.post(
    "/branches/{branch}/commits", status_code=status.HTTP_201_CREATED, operation_id="versions-commit"
)
@requires(Policy.DATASET_WRITE)
def commit(
    ctx: DatasetDep, session: SessionDep, holder: HolderDep, branch: str, body: CommitCreate
) -> dict[str, Any]:
    """Apply a change set (puts, deletes, prefix deletes) atomically as one commit.

    Every blob it puts must have been uploaded by the caller (409 names those that were
    not); with ``expected_parent`` the commit is refused (409) if someone else moved the
    branch first.
    """
    changes = body.changes.to_change_set()
    blobs.require_held(session, holder, ctx.repo, branch, changes)
    created = ctx.repo.commit(
        branch,
        changes,
        author=ctx.actor,
        message=body.message,
        metadata=body.metadata,
        expected_parent=body.expected_parent,
        allow_empty=body.allow_empty,
    )
    return created.as_dict()


@router.get("/commits/{ref}", operation_id="versions-get-commit")
@requires(Policy.DATASET_READ)
def get_commit(ctx: DatasetDep, ref: str) -> dict[str, Any]:
    """A commit by id, branch, tag or expression such as ``main~2``."""
    found = ctx.repo.resolve(ref)
    return {**found.as_dict(), "entries": ctx.repo.tree.count(found.tree)}


@router.get("/log", operation_id="versions-log")
@requires(Policy.DATASET_READ)
def log(
    ctx: DatasetDep,
    ref: str = Query(description="Branch, tag or commit to start from"),
    path: str = Query("", description="Only commits that changed this path or anything under it"),
    after: str = Query("", description="Last commit id of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    commits = ctx.repo.log(ref, path=path, after=after, limit=limit)
    return paginate(commits, limit, Commit.as_dict, lambda c: c.id)


@router.get("/refs/{ref}/objects", operation_id="versions-list-objects")
@requires(Policy.DATASET_READ)
def list_objects(
    ctx: DatasetDep,
    ref: str,
    prefix: str = "",
    after: str = Query("", description="Last path of the previous page"),
    limit: int = Limit,
) -> dict[str, Any]:
    """Paths of a version under ``prefix``, in path order, one page at a time."""
    entries = ctx.repo.list_objects(ref, prefix=prefix, after=after, limit=limit)
    return paginate(entries, limit, Entry.as_dict, lambda e: e.path)


@router.get("/refs/{ref}/objects/stat", operation_id="versions-stat-object")
@requires(Policy.DATASET_READ)
def stat_object(ctx: DatasetDep, ref: str, path: str) -> dict[str, Any]:
    return ctx.repo.stat(ref, path).as_dict()


@router.get(
    "/refs/{ref}/objects/content",
    operation_id="versions-get-object",
    response_class=StreamingResponse,
    responses={
        200: {**BINARY_BODY, "description": "The whole file"},
        206: {**BINARY_BODY, "description": "The requested byte range (Content-Range says which)"},
        416: {"model": ErrorBody, "description": "No byte of the file lies in the range"},
    },
)
@requires(Policy.DATASET_READ)
def get_object(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    request: Request,
    ref: str,
    path: str,
    range_header: str | None = Header(None, alias="Range"),
    if_range: str | None = Header(None, alias="If-Range"),
) -> StreamingResponse:
    """The bytes of one path at a version; honours a single HTTP ``Range`` (and ``If-Range``)."""
    return send_entry(ctx, session, platform, request, ref, ctx.repo.stat(ref, path), range_header, if_range)


def send_entry(
    ctx: DatasetContext,
    session: Session,
    platform: Platform,
    request: Request,
    ref: str,
    entry: Entry,
    range_header: str | None,
    if_range: str | None,
) -> StreamingResponse:
    """A path's bytes (or the requested range of them), on record in the audit trail."""
    path = entry.path
    etag = f'"{entry.blob}"'
    span = parse_range(range_header, entry.size, if_range=if_range, etag=etag)
    ctx.record(
        session,
        "object.download",
        ref=ref,
        object=path,
        ip=client_ip(request),
        details={"blob": entry.blob, "range": range_header or ""},
    )
    start, end = span or (0, entry.size)
    body = BlobStore(platform.store).open(entry.blob, start, end)  # type: ignore[arg-type]
    return StreamingResponse(body, status_code=206 if span else 200, headers=entry_headers(entry, span))


def entry_headers(entry: Entry, span: tuple[int, int] | None) -> dict[str, str]:
    """Type, length, tag and range headers of a path's bytes, shared by GET and HEAD answers."""
    start, end = span or (0, entry.size)
    headers = {
        **stored_file_headers(entry.path, entry.media_type),
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start),
        "ETag": f'"{entry.blob}"',
    }
    if span:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
    return headers


@router.get("/diff", operation_id="versions-diff")
@requires(Policy.DATASET_READ)
def diff(
    ctx: DatasetDep,
    left: str,
    right: str,
    prefix: str = "",
    after: str = Query("", description="Last path of the previous page"),
    limit: int = Limit,
) -> dict[str, Any]:
    """Added, removed and modified paths from ``left`` to ``right``, with sizes."""
    changes = ctx.repo.diff(left, right, prefix=prefix, after=after, limit=limit)
    return paginate(changes, limit, Change.as_dict, lambda c: c.path)


@router.post("/merges", status_code=status.HTTP_201_CREATED, operation_id="versions-merge")
@requires(Policy.DATASET_WRITE)
def merge(ctx: DatasetDep, session: SessionDep, body: MergeCreate) -> dict[str, Any]:
    """Three-way merge; 409 lists the conflicting paths under strategy ``fail``, or the
    required checks that have not passed on the source (internal and public datasets)."""
    access.refuse_phi_flow(ctx.dataset, body.source, body.destination)
    access.refuse_phi_copy(session, ctx.dataset, body.source, body.destination)  # also by commit id
    source = merge_gate.checked_source(session, ctx.dataset, ctx.repo, body.source, body.destination)
    merged = ctx.repo.merge(
        source,
        body.destination,
        author=ctx.actor,
        message=body.message or f"Merge {body.source} into {body.destination}",
        strategy=body.strategy,
        metadata=body.metadata,
    )
    ctx.record(
        session,
        "branch.merge",
        ref=body.destination,
        commit=merged.id,
        details={"source": body.source, "source_commit": source, "strategy": body.strategy.value},
    )
    return merged.as_dict()


@router.post("/branches/{branch}/revert", status_code=status.HTTP_201_CREATED, operation_id="versions-revert")
@requires(Policy.DATASET_WRITE)
def revert(ctx: DatasetDep, session: SessionDep, branch: str, body: RevertCreate) -> dict[str, Any]:
    """Undo one commit's changes on a branch. Undoing a commit only the PHI branches hold
    would bring raw data back onto a plain branch, so that is refused (403)."""
    ctx.repo.get_ref(branch, RefKind.BRANCH)
    access.refuse_phi_copy(session, ctx.dataset, body.commit, branch)
    made = ctx.repo.revert(branch, body.commit, author=ctx.actor, parent_number=body.parent_number)
    ctx.record(
        session, "branch.revert", ref=branch, commit=made.id, details={"reverted": made.metadata["reverts"]}
    )
    return made.as_dict()
