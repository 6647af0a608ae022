"""A lakeFS-compatible subset of the REST API, one lakeFS "server" per owner.

The lakeFS SDKs point at ``{base}/lakefs/{owner}/api/v1``; the owner's
datasets are their repositories. They authenticate with an ImageHub API token, as a
Bearer token or as the secret of Basic credentials. Where an operation exists in ImageHub
already (branches, tags, merges, deletes) the route calls that operation's own handler, so
every access rule, gate and audit event applies unchanged; these routes only reshape
requests and answers. Object writes go to the branch's staging area (``services.staging``)
until a commit, as lakeFS clients expect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any, BinaryIO, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from imagehub import __version__
from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import Change, ChangeKind, Commit, Entry, MergeStrategy, Ref, RefKind
from imagehub.models.dataset import Dataset
from imagehub.services import access, accounts, creation
from imagehub.services.staging import Workspace, fold
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, PrincipalDep, SessionDep
from imagehub_api.errors import BINARY_BODY, ErrorBody, UploadTooLarge
from imagehub_api.ranges import parse_range
from imagehub_api.routes import datasets as dataset_routes
from imagehub_api.routes import refs as ref_routes
from imagehub_api.routes import versions as version_routes
from imagehub_api.routes.blobs import spool
from imagehub_api.schemas import BranchCreate, MergeCreate, Message, RevertCreate, TagCreate, UserMetadata
from imagehub_api.security import Policy, requires

LAKEFS_ERRORS: dict[int | str, dict[str, Any]] = {  # lakeFS's codes, beside those of every API route
    400: {"model": ErrorBody, "description": "Invalid input, nothing to commit or merge, a dirty branch"},
}
router = APIRouter(prefix="/lakefs/{owner}/api/v1", tags=["lakeFS-compatible"], responses=LAKEFS_ERRORS)
Amount = Query(100, ge=-1, le=1000, description="Items per page (-1 or 0: the default, 100)")
Presign = Query(False, description="Refused: ImageHub hands out no presigned URLs")
MAX_PER_PAGE = 1000
# lakeFS's rule for a new repository's name; datasets named otherwise stay reachable through it
REPOSITORY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}\Z")
USER_METADATA = "x-lakefs-meta-"  # lakeFS clients send an object's user metadata in these headers
NO_USER_METADATA = f"user metadata is not supported: send objects without {USER_METADATA}* headers"
STRATEGIES = {"": MergeStrategy.FAIL, "dest-wins": MergeStrategy.OURS, "source-wins": MergeStrategy.THEIRS}


class RepositoryCreation(BaseModel):
    name: str
    storage_namespace: str = Field("", description="Ignored: ImageHub stores every dataset in its own store")
    default_branch: str = "main"


class BranchCreation(BaseModel):
    name: str
    source: str


class CommitCreation(BaseModel):
    message: Message = Field(min_length=1)
    metadata: UserMetadata = Field(default_factory=dict)
    allow_empty: bool = False
    date: int | None = Field(default=None, description="Refused: the server dates its commits")
    force: bool = Field(default=False, description="Refused")


class MergeRequest(BaseModel):
    message: Message = ""
    metadata: UserMetadata = Field(default_factory=dict)
    strategy: Literal["", "dest-wins", "source-wins"] = ""
    squash_merge: bool = Field(default=False, description="Refused: merges keep both parents")
    allow_empty: bool = Field(default=False, description="Refused")
    force: bool = Field(default=False, description="Refused")


class RevertCreation(BaseModel):
    ref: str
    parent_number: int = Field(ge=0, description="The parent to revert to, from 1 (0: the only one)")
    commit_overrides: dict[str, Any] | None = Field(default=None, description="Refused")
    force: bool = Field(default=False, description="Refused")
    allow_empty: bool = Field(default=False, description="Refused")


class ObjectCopyCreation(BaseModel):
    src_path: str
    src_ref: str = Field(default="", description="The ref to copy from; the branch itself when left out")
    force: bool = Field(default=False, description="Refused")
    shallow: bool = Field(default=False, description="Every copy is shallow: objects are stored by content")


class TagCreation(BaseModel):
    id: str
    ref: str


class ResetCreation(BaseModel):
    type: Literal["reset", "object", "common_prefix"]
    path: str = ""


class PathList(BaseModel):
    paths: list[str] = Field(max_length=1000)


def _unsupported(**options: object) -> None:
    """Options of lakeFS's that ImageHub does not honour are refused, never ignored (a date of 0 too)."""
    given = [name for name, value in options.items() if value is not None and value is not False]
    if given:
        raise InvalidInput(f"not supported by ImageHub's lakeFS API: {', '.join(given)}")


def _page(results: list[dict[str, Any]], has_more: bool, next_offset: str) -> dict[str, Any]:
    pagination = {
        "has_more": has_more,
        "next_offset": next_offset if has_more else "",
        "results": len(results),
        "max_per_page": MAX_PER_PAGE,
    }
    return {"pagination": pagination, "results": results}


def _amount(amount: int) -> int:
    return amount if amount > 0 else 100


def _repository(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": dataset.name,
        "creation_date": int(dataset.created_at.timestamp()),
        "default_branch": dataset.default_branch,
        "storage_namespace": f"imagehub://{dataset.full_name}",
        "read_only": False,
    }


def _ref(ref: Ref) -> dict[str, Any]:
    return {"id": ref.name, "commit_id": ref.commit}


def _commit(commit: Commit) -> dict[str, Any]:
    return {
        "id": commit.id,
        "parents": list(commit.parents),
        "committer": commit.author,
        "message": commit.message,
        "creation_date": int(commit.created_at.timestamp()),
        "meta_range_id": commit.tree,
        "metadata": {key: str(value) for key, value in commit.metadata.items()},
        "generation": commit.generation,
    }


def _object(entry: Entry, mtime: datetime) -> dict[str, Any]:
    return {
        "path": entry.path,
        "path_type": "object",
        "physical_address": f"imagehub://blobs/{entry.blob}",
        "checksum": entry.blob,
        "size_bytes": entry.size,
        "mtime": int(mtime.timestamp()),
        "content_type": entry.media_type,
        "metadata": {},
    }


def _folder(path: str) -> dict[str, Any]:
    return {"path": path, "path_type": "common_prefix", "physical_address": "", "checksum": "", "mtime": 0}


DIFF_TYPES = {ChangeKind.ADDED: "added", ChangeKind.REMOVED: "removed", ChangeKind.MODIFIED: "changed"}


def _diff(change: Change | str) -> dict[str, Any]:
    """A diff row: a changed object, or a folder (a ``str``) holding changes."""
    if isinstance(change, str):
        return {"type": "prefix_changed", "path": change, "path_type": "common_prefix"}
    side = change.right or change.left
    assert side is not None
    kind = DIFF_TYPES[change.kind]
    return {"type": kind, "path": change.path, "path_type": "object", "size_bytes": side.size}


def _diff_page(
    changes_after: Callable[[str], Iterable[Change]], prefix: str, after: str, amount: int, delimiter: str
) -> dict[str, Any]:
    found, more = fold(changes_after, prefix=prefix, after=after, amount=_amount(amount), delimiter=delimiter)
    rows = [_diff(c) for c in found]
    return _page(rows, more, rows[-1]["path"] if rows else "")


def _workspace(ctx: DatasetContext, session: SessionDep) -> Workspace:
    return Workspace(session, ctx.dataset, ctx.repo)


# The server -------------------------------------------------------------------------------

NO_STORE_ACCESS = {  # lakeFS clients read from it that they must go through the API for bytes
    "blockstore_type": "imagehub",
    "blockstore_namespace_example": "imagehub://owner/name",
    "blockstore_namespace_ValidityRegex": "^imagehub://",
    "pre_sign_support": False,
    "pre_sign_support_ui": False,
    "import_support": False,
    "import_validity_regex": "^$",
}


@router.get("/healthcheck", status_code=status.HTTP_204_NO_CONTENT, operation_id="lakefs-healthcheck")
@requires(Policy.PUBLIC)
def healthcheck() -> None:
    """lakeFS's liveness probe: the server answers (``/api/v1/health`` checks its dependencies)."""


@router.get("/config", operation_id="lakefs-get-config")
@requires(Policy.AUTHENTICATED)
def get_config() -> dict[str, Any]:
    """What lakeFS clients ask of a server first: its version, and a store that hands out no
    presigned URLs and takes no imports."""
    return {
        "version_config": {"version": __version__},
        "storage_config": NO_STORE_ACCESS,
        "storage_config_list": [NO_STORE_ACCESS],
    }


@router.get("/user", operation_id="lakefs-get-current-user")
@requires(Policy.AUTHENTICATED)
def get_current_user(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """The caller, as a lakeFS user."""
    user = accounts.get_user(session, principal.username)
    created = int(user.created_at.timestamp())
    return {
        "user": {
            "id": user.username,
            "creation_date": created,
            "friendly_name": user.full_name,
            "email": user.email,
        }
    }


# Repositories -----------------------------------------------------------------------------


@router.get("/repositories", operation_id="lakefs-list-repositories")
@requires(Policy.AUTHENTICATED)
def list_repositories(
    owner: str,
    session: SessionDep,
    principal: PrincipalDep,
    prefix: str = "",
    after: str = "",
    amount: int = Amount,
) -> dict[str, Any]:
    """The owner's datasets the caller may read, by name."""
    readable = access.readable_of(session, principal, owner)
    wanted = (d for d in readable if d.name.startswith(prefix) and d.name > after)
    names = sorted(wanted, key=lambda d: d.name)
    shown = names[: _amount(amount)]
    more = len(names) > len(shown)
    return _page([_repository(d) for d in shown], more, shown[-1].name if shown else "")


@router.post("/repositories", status_code=status.HTTP_201_CREATED, operation_id="lakefs-create-repository")
@requires(Policy.AUTHENTICATED)
def create_repository(
    owner: str, body: RepositoryCreation, session: SessionDep, principal: PrincipalDep, platform: PlatformDep
) -> dict[str, Any]:
    """A private dataset ``owner/name`` with its default branch and an empty first commit."""
    if not REPOSITORY_NAME.match(body.name):
        raise InvalidInput(
            f"invalid repository name {body.name!r}: lakeFS takes 3 to 63 lowercase letters, digits and '-',"
            " starting with a letter or digit"
        )
    made = creation.create_dataset(
        session, platform, principal, owner=owner, name=body.name, default_branch=body.default_branch
    )
    return _repository(made)


@router.get("/repositories/{name}", operation_id="lakefs-get-repository")
@requires(Policy.DATASET_READ)
def get_repository(ctx: DatasetDep) -> dict[str, Any]:
    return _repository(ctx.dataset)


@router.delete(
    "/repositories/{name}", status_code=status.HTTP_204_NO_CONTENT, operation_id="lakefs-delete-repository"
)
@requires(Policy.DATASET_ADMIN)
def delete_repository(ctx: DatasetDep, session: SessionDep) -> None:
    """A soft delete, as for every dataset: an administrator can restore it."""
    dataset_routes.delete_dataset(ctx, session)


# Branches ---------------------------------------------------------------------------------


def _refs(ctx: DatasetContext, kind: RefKind, prefix: str, after: str, amount: int) -> dict[str, Any]:
    found = ctx.repo.list_refs(kind, prefix=prefix, after=after, limit=_amount(amount) + 1)
    shown = found[: _amount(amount)]
    return _page([_ref(r) for r in shown], len(found) > len(shown), shown[-1].name if shown else "")


@router.get("/repositories/{name}/branches", operation_id="lakefs-list-branches")
@requires(Policy.DATASET_READ)
def list_branches(ctx: DatasetDep, prefix: str = "", after: str = "", amount: int = Amount) -> dict[str, Any]:
    return _refs(ctx, RefKind.BRANCH, prefix, after, amount)


@router.post(
    "/repositories/{name}/branches",
    status_code=status.HTTP_201_CREATED,
    operation_id="lakefs-create-branch",
    response_class=PlainTextResponse,
)
@requires(Policy.DATASET_WRITE)
def create_branch(
    ctx: DatasetDep, session: SessionDep, request: Request, body: BranchCreation
) -> PlainTextResponse:
    """Answers with the commit the branch starts at, as plain text (as lakeFS does)."""
    made = ref_routes.create_branch(ctx, session, request, BranchCreate(name=body.name, source=body.source))
    return PlainTextResponse(str(made["commit_id"]), status_code=status.HTTP_201_CREATED)


@router.get("/repositories/{name}/branches/{branch}", operation_id="lakefs-get-branch")
@requires(Policy.DATASET_READ)
def get_branch(ctx: DatasetDep, branch: str) -> dict[str, Any]:
    return _ref(ctx.repo.get_ref(branch, RefKind.BRANCH))


@router.delete(
    "/repositories/{name}/branches/{branch}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="lakefs-delete-branch",
)
@requires(Policy.DATASET_WRITE)
def delete_branch(ctx: DatasetDep, session: SessionDep, branch: str) -> None:
    """Its uncommitted changes go with it."""
    ref_routes.delete_branch(ctx, session, branch)


@router.put(
    "/repositories/{name}/branches/{branch}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="lakefs-reset-branch",
)
@requires(Policy.DATASET_WRITE)
def reset_branch(ctx: DatasetDep, session: SessionDep, branch: str, body: ResetCreation) -> None:
    """Drop uncommitted changes: all of them, one object's, or those under a prefix."""
    workspace = _workspace(ctx, session)
    if body.type == "reset":
        workspace.reset(branch)
    elif not body.path:
        raise InvalidInput(f"a reset of type {body.type!r} needs a path")
    elif body.type == "object":
        workspace.reset_path(branch, body.path)
    else:
        workspace.reset(branch, body.path)


@router.get("/repositories/{name}/branches/{branch}/diff", operation_id="lakefs-diff-branch")
@requires(Policy.DATASET_READ)
def uncommitted(
    ctx: DatasetDep,
    session: SessionDep,
    branch: str,
    prefix: str = "",
    after: str = "",
    amount: int = Amount,
    delimiter: str = "",
) -> dict[str, Any]:
    """The branch's uncommitted changes; with a ``delimiter``, a folder's fold into one row."""
    changes = _workspace(ctx, session).uncommitted(branch, prefix)
    return _diff_page(
        lambda cursor: (c for c in changes if c.path > cursor), prefix, after, amount, delimiter
    )


@router.post(
    "/repositories/{name}/branches/{branch}/revert",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="lakefs-revert-branch",
)
@requires(Policy.DATASET_WRITE)
def revert_branch(ctx: DatasetDep, session: SessionDep, branch: str, body: RevertCreation) -> None:
    """Undo one commit's changes on the branch, as a new commit, through ImageHub's own revert;
    refused while the branch has uncommitted changes, as in lakeFS."""
    _unsupported(commit_overrides=body.commit_overrides, force=body.force, allow_empty=body.allow_empty)
    if body.parent_number == 0 and len(ctx.repo.resolve(body.ref).parents) > 1:
        raise InvalidInput(
            f"{body.ref!r} is a merge commit: name the parent to revert to (parent_number, from 1)"
        )
    _workspace(ctx, session).settle(branch)
    version_routes.revert(
        ctx, session, branch, RevertCreate(commit=body.ref, parent_number=body.parent_number or 1)
    )


# Commits ----------------------------------------------------------------------------------


@router.post(
    "/repositories/{name}/branches/{branch}/commits",
    status_code=status.HTTP_201_CREATED,
    operation_id="lakefs-commit",
)
@requires(Policy.DATASET_WRITE)
def commit(ctx: DatasetDep, session: SessionDep, branch: str, body: CommitCreation) -> dict[str, Any]:
    """Everything staged on the branch, as one commit (400 when nothing is staged)."""
    _unsupported(date=body.date, force=body.force)
    made = _workspace(ctx, session).commit(
        branch, author=ctx.actor, message=body.message, metadata=body.metadata, allow_empty=body.allow_empty
    )
    return _commit(made)


@router.get("/repositories/{name}/commits/{commit}", operation_id="lakefs-get-commit")
@requires(Policy.DATASET_READ)
def get_commit(ctx: DatasetDep, commit: str) -> dict[str, Any]:
    return _commit(ctx.repo.resolve(commit))


@router.get("/repositories/{name}/refs/{ref}/commits", operation_id="lakefs-log")
@requires(Policy.DATASET_READ)
def log(
    ctx: DatasetDep,
    ref: str,
    after: str = "",
    amount: int = Amount,
    objects: list[str] = Query([], description="Commits that changed one of these exact paths"),
    prefixes: list[str] = Query([], description="Commits that changed a path starting with one of these"),
    stop_at: str = "",
    since: str = "",
    first_parent: bool = False,
) -> dict[str, Any]:
    """History from ``ref``, newest first."""
    if stop_at or since or first_parent:
        raise InvalidInput("stop_at, since and first_parent are not supported: page with after instead")
    found = ctx.repo.log(ref, after=after, limit=_amount(amount) + 1, objects=objects, prefixes=prefixes)
    shown = found[: _amount(amount)]
    return _page([_commit(c) for c in shown], len(found) > len(shown), shown[-1].id if shown else "")


# Objects ----------------------------------------------------------------------------------


@router.get(
    "/repositories/{name}/refs/{ref}/objects",
    operation_id="lakefs-get-object",
    response_class=StreamingResponse,
    responses={200: BINARY_BODY, 206: BINARY_BODY},
)
@router.head("/repositories/{name}/refs/{ref}/objects", operation_id="lakefs-head-object")
@requires(Policy.DATASET_READ)
def get_object(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    request: Request,
    ref: str,
    path: str,
    range_header: str | None = Header(None, alias="Range"),
    if_none_match: str | None = Header(None),
    presign: bool = Presign,
) -> Response:
    """The object's bytes at ``ref``: a branch shows its uncommitted changes."""
    _unsupported(presign=presign)
    entry = _workspace(ctx, session).stat(ref, path)
    if if_none_match is not None and if_none_match.strip('"') == entry.blob:
        return Response(status_code=304, headers={"ETag": f'"{entry.blob}"'})
    if request.method == "HEAD":
        span = parse_range(range_header, entry.size, if_range=None, etag=f'"{entry.blob}"')
        headers = version_routes.entry_headers(entry, span)
        return Response(status_code=206 if span else 200, headers=headers)
    return version_routes.send_entry(ctx, session, platform, request, ref, entry, range_header, None)


@router.get("/repositories/{name}/refs/{ref}/objects/stat", operation_id="lakefs-stat-object")
@requires(Policy.DATASET_READ)
def stat_object(
    ctx: DatasetDep, session: SessionDep, ref: str, path: str, presign: bool = Presign
) -> dict[str, Any]:
    _unsupported(presign=presign)
    workspace = _workspace(ctx, session)
    return _stats(workspace, ref, workspace.stat(ref, path))


def _stats(workspace: Workspace, ref: str, entry: Entry) -> dict[str, Any]:
    return _object(entry, workspace.modified(ref, [entry])[entry.path])


@router.get("/repositories/{name}/refs/{ref}/objects/ls", operation_id="lakefs-list-objects")
@requires(Policy.DATASET_READ)
def list_objects(
    ctx: DatasetDep,
    session: SessionDep,
    ref: str,
    prefix: str = "",
    after: str = "",
    amount: int = Amount,
    delimiter: str = "",
    presign: bool = Presign,
) -> dict[str, Any]:
    """Objects under ``prefix`` in path order; with a ``delimiter``, folders fold into one row."""
    _unsupported(presign=presign)
    workspace = _workspace(ctx, session)
    found, more = workspace.listing(
        ref, prefix=prefix, after=after, amount=_amount(amount), delimiter=delimiter
    )
    times = workspace.modified(ref, [item for item in found if not isinstance(item, str)])
    rows = [_folder(item) if isinstance(item, str) else _object(item, times[item.path]) for item in found]
    return _page(rows, more, rows[-1]["path"] if rows else "")


@router.post(
    "/repositories/{name}/branches/{branch}/objects",
    status_code=status.HTTP_201_CREATED,
    operation_id="lakefs-upload-object",
    openapi_extra={"requestBody": {**BINARY_BODY, "required": True}},
)
@requires(Policy.DATASET_WRITE)
async def upload_object(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    request: Request,
    branch: str,
    path: str,
    if_none_match: str | None = Header(None, description='"*": only if the path holds no object yet'),
    if_match: str | None = Header(None, description="Only if the path's object has this ETag"),
) -> dict[str, Any]:
    """Stage bytes at ``path``: the body itself, or its ``content`` part when multipart.
    Objects carry no user metadata here, so an upload that sends some is refused rather
    than stored without it."""
    if any(header.startswith(USER_METADATA) for header in request.headers):
        raise InvalidInput(NO_USER_METADATA)
    if if_none_match not in (None, "*"):
        raise InvalidInput('If-None-Match takes only "*" on uploads')
    cap = platform.settings.max_upload_bytes
    media_type = request.headers.get("content-type", "")
    body: bytes | BinaryIO
    if media_type.startswith("multipart/form-data"):
        body, media_type = await _content_part(request, cap)
    else:
        body = await spool(request, cap)
    workspace = _workspace(ctx, session)
    try:
        entry = await run_in_threadpool(
            partial(
                workspace.upload,
                platform,
                branch,
                path,
                body,
                media_type,
                if_absent=if_none_match == "*",
                if_match=if_match,
            )
        )
    finally:
        if not isinstance(body, bytes):
            body.close()
    return await run_in_threadpool(_stats, workspace, branch, entry)


async def _content_part(request: Request, cap: int) -> tuple[BinaryIO, str]:
    """The file part named ``content`` of a multipart upload (what the lakeFS SDKs send),
    refused past the upload limit: by its declared length before reading, else after."""
    if int(request.headers.get("content-length") or 0) > cap:
        raise UploadTooLarge(f"upload exceeds the {cap}-byte limit")
    form = await request.form()
    content = form.get("content")
    if content is None or isinstance(content, str):
        raise InvalidInput("a multipart upload carries the object in a file part named 'content'")
    if (content.size or 0) > cap:
        raise UploadTooLarge(f"upload exceeds the {cap}-byte limit")
    return content.file, content.content_type or ""


@router.post(
    "/repositories/{name}/branches/{branch}/objects/copy",
    status_code=status.HTTP_201_CREATED,
    operation_id="lakefs-copy-object",
)
@requires(Policy.DATASET_WRITE)
def copy_object(
    ctx: DatasetDep, session: SessionDep, branch: str, dest_path: str, body: ObjectCopyCreation
) -> dict[str, Any]:
    """Stage at ``dest_path`` the object ``src_path`` holds at ``src_ref``. Raw (PHI) data
    reaches a plain branch only through de-identification, so a copy from a PHI branch to
    one that is not is refused (403), as a merge would be."""
    _unsupported(force=body.force)
    source = body.src_ref or branch
    access.refuse_phi_flow(ctx.dataset, source, branch)
    access.refuse_phi_copy(session, ctx.dataset, source, branch)
    workspace = _workspace(ctx, session)
    return _stats(workspace, branch, workspace.copy(branch, dest_path, source, body.src_path))


@router.put(
    "/repositories/{name}/branches/{branch}/objects/stat/user_metadata",
    operation_id="lakefs-update-object-user-metadata",
)
@requires(Policy.DATASET_WRITE)
def update_object_user_metadata(ctx: DatasetDep, branch: str, path: str) -> None:
    """Refused (400), not left to a 404: objects carry no user metadata here."""
    raise InvalidInput(NO_USER_METADATA)


@router.delete(
    "/repositories/{name}/branches/{branch}/objects",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="lakefs-delete-object",
)
@requires(Policy.DATASET_WRITE)
def delete_object(ctx: DatasetDep, session: SessionDep, branch: str, path: str) -> None:
    """Stage the object's removal."""
    _workspace(ctx, session).remove(branch, path)


@router.post("/repositories/{name}/branches/{branch}/objects/delete", operation_id="lakefs-delete-objects")
@requires(Policy.DATASET_WRITE)
def delete_objects(ctx: DatasetDep, session: SessionDep, branch: str, body: PathList) -> dict[str, Any]:
    workspace = _workspace(ctx, session)
    for path in body.paths:
        workspace.remove(branch, path)
    return {"errors": []}


# Diff and merge ---------------------------------------------------------------------------


@router.get("/repositories/{name}/refs/{left}/diff/{right}", operation_id="lakefs-diff-refs")
@requires(Policy.DATASET_READ)
def diff_refs(
    ctx: DatasetDep,
    left: str,
    right: str,
    prefix: str = "",
    after: str = "",
    amount: int = Amount,
    delimiter: str = "",
    type: Literal["three_dot", "two_dot"] = Query(
        "three_dot", description="three_dot (lakeFS's default): from the refs' merge base; two_dot: from left"
    ),
) -> dict[str, Any]:
    """Committed differences from ``left`` (or, three-dot, from its merge base with
    ``right``) to ``right``; with a ``delimiter``, a folder's fold into one row."""
    if type == "three_dot":
        left = ctx.repo.merge_base(left, right)
    limit = _amount(amount) + 1  # as many as one page can take before a folder ends it
    changes_after = partial(ctx.repo.diff, left, right, prefix=prefix, limit=limit)
    return _diff_page(lambda cursor: changes_after(after=cursor), prefix, after, amount, delimiter)


@router.get("/repositories/{name}/refs/{source}/merge/{destination}", operation_id="lakefs-find-merge-base")
@requires(Policy.DATASET_READ)
def find_merge_base(ctx: DatasetDep, source: str, destination: str) -> dict[str, Any]:
    """The commits a merge of ``source`` into ``destination`` would start from."""
    return {
        "source_commit_id": ctx.repo.resolve(source).id,
        "destination_commit_id": ctx.repo.resolve(destination).id,
        "base_commit_id": ctx.repo.merge_base(source, destination),
    }


@router.post("/repositories/{name}/refs/{source}/merge/{destination}", operation_id="lakefs-merge")
@requires(Policy.DATASET_WRITE)
def merge(
    ctx: DatasetDep, session: SessionDep, source: str, destination: str, body: MergeRequest | None = None
) -> dict[str, Any]:
    """A three-way merge through ImageHub's own merge, gates included; ``dest-wins`` and
    ``source-wins`` settle conflicts, else they are a 409. A destination with uncommitted
    changes is refused; what else is staged there changes nothing and goes, as in lakeFS."""
    body = body or MergeRequest()
    _unsupported(squash_merge=body.squash_merge, allow_empty=body.allow_empty, force=body.force)
    _workspace(ctx, session).settle(destination)
    request = MergeCreate(
        source=source,
        destination=destination,
        strategy=STRATEGIES[body.strategy],
        message=body.message,
        metadata=body.metadata,
    )
    return {"reference": version_routes.merge(ctx, session, request)["id"]}


# Tags -------------------------------------------------------------------------------------


@router.get("/repositories/{name}/tags", operation_id="lakefs-list-tags")
@requires(Policy.DATASET_READ)
def list_tags(ctx: DatasetDep, prefix: str = "", after: str = "", amount: int = Amount) -> dict[str, Any]:
    return _refs(ctx, RefKind.TAG, prefix, after, amount)


@router.post(
    "/repositories/{name}/tags", status_code=status.HTTP_201_CREATED, operation_id="lakefs-create-tag"
)
@requires(Policy.DATASET_WRITE)
def create_tag(ctx: DatasetDep, session: SessionDep, body: TagCreation) -> dict[str, Any]:
    made = ref_routes.create_tag(ctx, session, TagCreate(name=body.id, ref=body.ref))
    return {"id": made["name"], "commit_id": made["commit_id"]}


@router.get("/repositories/{name}/tags/{tag}", operation_id="lakefs-get-tag")
@requires(Policy.DATASET_READ)
def get_tag(ctx: DatasetDep, tag: str) -> dict[str, Any]:
    return _ref(ctx.repo.get_ref(tag, RefKind.TAG))


@router.delete(
    "/repositories/{name}/tags/{tag}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="lakefs-delete-tag",
)
@requires(Policy.DATASET_ADMIN)
def delete_tag(ctx: DatasetDep, session: SessionDep, tag: str) -> None:
    ref_routes.delete_tag(ctx, session, tag)
