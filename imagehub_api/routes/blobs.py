"""Blob upload and the have/want check, scoped to a dataset."""

from __future__ import annotations

import io
import tempfile
from typing import Any, BinaryIO

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from imagehub.services import blobs
from imagehub_api.deps import DatasetDep, HolderDep, PlatformDep, SessionDep
from imagehub_api.errors import BINARY_BODY, UploadTooLarge
from imagehub_api.security import Policy, requires

SPOOL_IN_MEMORY = 8 * 1024 * 1024
BUNDLE_IN_MEMORY = 16 * 1024 * 1024  # a whole client bundle (8 MB of records plus headers)

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/blobs", tags=["blobs"])


class HaveWant(BaseModel):
    blobs: list[str] = Field(max_length=100_000)


@router.post("/missing", operation_id="blobs-missing")
@requires(Policy.DATASET_WRITE)
def missing_blobs(
    _ctx: DatasetDep, session: SessionDep, platform: PlatformDep, holder: HolderDep, body: HaveWant
) -> dict[str, Any]:
    """Which of these blobs the caller must upload: those the server lacks (or holds damaged,
    where the storage is local disk), and those the caller never uploaded themselves (whoever
    else did, the answer does not say)."""
    return {"missing": sorted(blobs.missing(session, platform, body.blobs, holder=holder))}


@router.post(
    "/bundle",
    status_code=status.HTTP_201_CREATED,
    operation_id="blobs-upload-bundle",
    openapi_extra={"requestBody": {**BINARY_BODY, "required": True}},
)
@requires(Policy.DATASET_WRITE)
async def upload_bundle(
    _ctx: DatasetDep, session: SessionDep, platform: PlatformDep, holder: HolderDep, request: Request
) -> dict[str, Any]:
    """Many small blobs in one request: records of ``[sha256 hex][size, 8 bytes big-endian][bytes]``."""
    body = await spool(request, platform.settings.max_upload_bytes, BUNDLE_IN_MEMORY)
    with io.BytesIO(body) if isinstance(body, bytes) else body as records:  # BytesIO shares the bytes
        stored = await run_in_threadpool(blobs.upload_bundle, session, platform, records)
    await run_in_threadpool(blobs.record_holder, session, holder, stored)
    return {"stored": len(stored), "bytes": sum(size for _, size in stored)}


async def spool(request: Request, cap: int, in_memory: int = SPOOL_IN_MEMORY) -> bytes | BinaryIO:
    """The request body, refusing bodies over ``cap`` bytes: as bytes up to ``in_memory``
    bytes, else as a temporary file (which the caller closes).

    The chunks are kept as they arrive and joined once at the end (a spooled file copied
    every chunk on the event loop and regrew its buffer as it went, which slowed pushes by
    a tenth), so a body briefly takes twice its size: at most twice ``in_memory``."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > cap:
        raise UploadTooLarge(f"upload of {declared} bytes exceeds the {cap}-byte limit")
    chunks: list[bytes] = []
    spill: BinaryIO | None = None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > cap:
                raise UploadTooLarge(f"upload exceeds the {cap}-byte limit")
            if spill is None and received > in_memory:
                spill = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller, who closes it
                spill.writelines(chunks)
                chunks.clear()
            if spill is None:
                chunks.append(chunk)
            else:
                spill.write(chunk)
    except BaseException:
        if spill is not None:
            spill.close()
        raise
    if spill is None:
        return b"".join(chunks)
    spill.seek(0)
    return spill


@router.put(
    "/{blob_id}",
    status_code=status.HTTP_201_CREATED,
    operation_id="blobs-upload",
    openapi_extra={"requestBody": {**BINARY_BODY, "required": True}},
)
@requires(Policy.DATASET_WRITE)
async def upload_blob(
    _ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    holder: HolderDep,
    blob_id: str,
    request: Request,
) -> dict[str, Any]:
    """Upload raw bytes; they must hash to ``blob_id`` or nothing is kept (422)."""
    body = await spool(request, platform.settings.max_upload_bytes)
    try:
        blob, size = await run_in_threadpool(blobs.upload, session, platform, body, expected=blob_id)
    finally:
        if not isinstance(body, bytes):
            body.close()
    await run_in_threadpool(blobs.record_holder, session, holder, [(blob, size)])
    return {"blob": blob, "size": size}
