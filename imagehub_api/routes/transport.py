"""Transport: resumable chunked uploads and download plans."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from imagehub.core.errors import NotFound
from imagehub.core.media import OCTET_STREAM
from imagehub.core.vcs import BlobId, BlobStore, Entry, blob_key
from imagehub.models.transport import UploadSession
from imagehub.services import blobs, transport
from imagehub_api.deps import DatasetDep, HolderDep, PlatformDep, SessionDep
from imagehub_api.errors import BINARY_BODY, UploadTooLarge
from imagehub_api.headers import stored_file_headers
from imagehub_api.pagination import page as paginate
from imagehub_api.routes.blobs import spool
from imagehub_api.security import Policy, client_ip, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}", tags=["transport"])


class UploadStart(BaseModel):
    blob: str = Field(description="SHA-256 of the whole content")
    size: int = Field(ge=0)


def _state(upload: UploadSession, **direct: str | int | None) -> dict[str, Any]:
    """A session's progress; with S3, where its direct upload stands (``direct_url``, ``direct_size``)."""
    state = {"id": upload.id, "blob": upload.blob, "size": upload.size, "offset": upload.received}
    return {**state, **{k: v for k, v in direct.items() if v is not None}}


@router.post(
    "/uploads",
    status_code=status.HTTP_201_CREATED,
    operation_id="transport-start-upload",
    responses={200: {"description": "The server already has the blob: nothing to upload"}},
)
@requires(Policy.DATASET_WRITE)
def start_upload(
    ctx: DatasetDep, session: SessionDep, platform: PlatformDep, holder: HolderDep, body: UploadStart
) -> Any:
    """Open a resumable upload, unless the caller uploaded the blob before (200, nothing to send)."""
    if body.size > platform.settings.max_upload_bytes:
        raise UploadTooLarge(f"{body.size} bytes exceeds the {platform.settings.max_upload_bytes}-byte limit")
    if not blobs.missing(session, platform, [body.blob], holder=holder):
        return JSONResponse({"id": None, "blob": body.blob, "complete": True}, status_code=200)
    upload = transport.start_upload(
        session, dataset=ctx.dataset, blob=body.blob, size=body.size, actor=ctx.actor
    )
    return _state(upload, direct_url=transport.direct_upload_url(platform, upload))


@router.get("/uploads/{upload_id}", operation_id="transport-upload-state")
@requires(Policy.DATASET_WRITE)
def upload_state(
    ctx: DatasetDep, session: SessionDep, platform: PlatformDep, upload_id: str
) -> dict[str, Any]:
    """How far an upload got: resume by sending the chunk that starts at ``offset``; a direct
    upload (S3) whose ``direct_size`` is its size needs only completing."""
    upload = transport.get_upload(session, dataset=ctx.dataset, upload_id=upload_id)
    return _state(upload, direct_size=transport.direct_size(platform, upload))


@router.put(
    "/uploads/{upload_id}",
    operation_id="transport-upload-chunk",
    openapi_extra={"requestBody": {**BINARY_BODY, "required": True}},
)
@requires(Policy.DATASET_WRITE)
async def upload_chunk(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    upload_id: str,
    request: Request,
    offset: int = Query(ge=0, description="Byte offset this chunk starts at"),
) -> dict[str, Any]:
    """Append one chunk at ``offset``; any other offset gets 409 with the offset to resume from.
    A chunk over the limit is refused (413) as soon as it passes it, not after it is read."""
    chunk = await spool(request, transport.MAX_CHUNK, in_memory=transport.MAX_CHUNK)
    assert isinstance(chunk, bytes)  # never spilled: the cap is the in-memory size
    upload = await run_in_threadpool(
        transport.append_chunk,
        session,
        platform,
        dataset=ctx.dataset,
        upload_id=upload_id,
        offset=offset,
        chunk=chunk,
    )
    return _state(upload)


@router.post("/uploads/{upload_id}/complete", operation_id="transport-complete-upload")
@requires(Policy.DATASET_WRITE)
def complete_upload(
    ctx: DatasetDep, session: SessionDep, platform: PlatformDep, holder: HolderDep, upload_id: str
) -> dict[str, Any]:
    """Check the whole content against the blob id; only then does the blob exist."""
    upload = transport.get_upload(session, dataset=ctx.dataset, upload_id=upload_id)
    size = upload.size
    blob = transport.complete_upload(session, platform, dataset=ctx.dataset, upload_id=upload_id)
    blobs.record_holder(session, holder, [(blob, size)])
    return {"blob": blob, "complete": True}


class BundleRequest(BaseModel):
    paths: list[str] = Field(max_length=10_000)


@router.post("/refs/{ref}/bundle", operation_id="transport-download-bundle")
@requires(Policy.DATASET_READ, changes_nothing=True)
def download_bundle(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    request: Request,
    ref: str,
    body: BundleRequest,
) -> StreamingResponse:
    """Many files of one version in one response: ``[sha256 hex][size, 8 bytes][bytes]`` per path, in order.

    Meant for small files (the client verifies each record against its id); large files
    are fetched one by one with ``Range`` so they can resume.
    """
    tree = ctx.repo.resolve(ref).tree
    entries = []
    for path in body.paths:
        entry = ctx.repo.tree.get(tree, path)
        if entry is None:
            raise NotFound(f"no path {path!r} at {ref!r}")
        entries.append(entry)
    ctx.record(
        session,
        "object.download",
        ref=ref,
        object=f"{len(entries)} files",
        ip=client_ip(request),
        details={"bundle": True, "bytes": sum(e.size for e in entries)},
    )
    store = BlobStore(platform.store)
    # The first file is opened before the answer starts: storage that is down or refuses the
    # server is a 503 the client can read, not a 200 cut off after its headers.
    first = _started(store.open(BlobId(entries[0].blob))) if entries else iter(())

    def records() -> Iterator[bytes]:
        for n, entry in enumerate(entries):
            yield entry.blob.encode("ascii") + entry.size.to_bytes(8, "big")
            yield from first if n == 0 else store.open(BlobId(entry.blob))

    return StreamingResponse(records(), headers=stored_file_headers("bundle", OCTET_STREAM))


def _started(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` with the first one already read (errors of the read raised now)."""
    opened = iter(chunks)
    head = next(opened, None)
    return opened if head is None else chain([head], opened)


@router.get("/refs/{ref}/objects/url", operation_id="transport-direct-download")
@requires(Policy.DATASET_READ)
def direct_download(
    ctx: DatasetDep, session: SessionDep, platform: PlatformDep, request: Request, ref: str, path: str
) -> dict[str, Any]:
    """A short-lived URL to fetch one file straight from object storage (S3), or null when the
    storage is local disk: then download through ``objects/content``."""
    entry = ctx.repo.stat(ref, path)
    url = platform.store.presign(blob_key(BlobId(entry.blob)), expires_in=transport.DIRECT_URL_SECONDS)
    if not url.startswith(("http://", "https://")):
        return {"url": None, **entry.as_dict()}
    ctx.record(
        session,
        "object.download",
        ref=ref,
        object=path,
        ip=client_ip(request),
        details={"blob": entry.blob, "direct": True},
    )
    return {"url": url, **entry.as_dict()}


@router.get("/refs/{ref}/plan", operation_id="transport-download-plan")
@requires(Policy.DATASET_READ)
def download_plan(
    ctx: DatasetDep, ref: str, prefix: str = "", after: str = "", limit: int = Query(10_000, ge=1, le=10_000)
) -> dict[str, Any]:
    """What to fetch for a version, page by page, pinned to the commit ``ref`` resolves to."""
    commit, entries = transport.download_plan(ctx.repo, ref=ref, prefix=prefix, after=after, limit=limit)
    return {"commit": commit, **paginate(entries, limit, Entry.as_dict, lambda e: e.path)}
