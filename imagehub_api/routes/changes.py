"""What a change did inside one imaging file: a DICOM header diff, or a label map's voxels and Dice.

Both versions are named ``left`` and ``right`` so that the PHI gate sees each of them; the
reads are audited like any other look at a file's content.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from imagehub.services import change_detail
from imagehub.services.platform import Platform
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.security import Policy, client_ip, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/changes", tags=["changes"])
# Annotated, not shared ``Query()`` defaults: FastAPI copies an Annotated field per parameter,
# whereas one default instance shared by ``left`` and ``right`` made both read ``left``.
RefQuery = Annotated[str, Query(min_length=1, max_length=255, description="Branch, tag or commit")]
PathQuery = Annotated[str, Query(min_length=1, max_length=1024, description="The file's path in the dataset")]


def record_view(
    ctx: DatasetContext, session: Session, request: Request, what: str, left: str, right: str, path: str
) -> None:
    """The content of both versions was looked at: on record, like a download."""
    ctx.record(
        session,
        "object.compare",
        ref=f"{left}..{right}",
        object=path,
        ip=client_ip(request),
        details={"detail": what, "left": left, "right": right},
    )


# The details, by the name the audit trail and the portal give them.
DETAILS = {"header": change_detail.header_diff, "labels": change_detail.label_change}


def viewed_detail(
    ctx: DatasetContext,
    session: Session,
    platform: Platform,
    request: Request,
    kind: str,
    refs: tuple[str, str],
    path: str,
) -> Any:
    """The detail between two versions (commit ids), its viewing on record (REST and portal)."""
    found = DETAILS[kind](platform.store, ctx.repo, refs[0], refs[1], path)
    record_view(ctx, session, request, kind, refs[0], refs[1], path)
    return found


def _ids(ctx: DatasetContext, left: str, right: str) -> tuple[str, str]:
    return ctx.repo.resolve(left).id, ctx.repo.resolve(right).id


@router.get("/header", operation_id="changes-header-diff")
@requires(Policy.DATASET_READ)
def header_diff(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    request: Request,
    left: RefQuery,
    right: RefQuery,
    path: PathQuery,
) -> dict[str, Any]:
    """Tag-by-tag changes of one DICOM file between two versions, file meta included; binary
    values (pixel data) are compared and shown by digest."""
    found: change_detail.HeaderDiff = viewed_detail(
        ctx, session, platform, request, "header", _ids(ctx, left, right), path
    )
    return found.as_dict()


@router.get("/labels", operation_id="changes-label-change")
@requires(Policy.DATASET_READ)
def label_change(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    request: Request,
    left: RefQuery,
    right: RefQuery,
    path: PathQuery,
) -> dict[str, Any]:
    """Voxels per label before and after, and each label's Dice, of a NIfTI label map or DICOM SEG."""
    found: change_detail.LabelChange = viewed_detail(
        ctx, session, platform, request, "labels", _ids(ctx, left, right), path
    )
    return found.as_dict()


@router.get("/label-paths", operation_id="changes-label-paths")
@requires(Policy.DATASET_READ)
def label_paths(
    ctx: DatasetDep,
    platform: PlatformDep,
    left: RefQuery,
    right: RefQuery,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Added or modified files between two versions that look like label maps."""
    before, after = ctx.repo.resolve(left), ctx.repo.resolve(right)
    found = change_detail.changed_label_paths(platform.store, ctx.repo, before.id, after.id, limit=limit)
    return {
        "left": before.id,
        "right": after.id,
        "results": [
            {"path": p.path, "change": p.change, "format": p.format, "reason": p.reason} for p in found
        ],
    }
