"""Imaging views of a version: the pipeline's series, their thumbnails, and any file's thumbnail.

Pixels of a raw branch are PHI like its files: the same read policy and PHI gate apply,
and every image served is audited.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from imagehub.core.errors import NotFound
from imagehub.core.vcs.types import is_full_id
from imagehub.models.imaging import SeriesRow
from imagehub.services import imaging
from imagehub.services.platform import Platform
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.security import Policy, client_ip, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}", tags=["imaging"])


def cached(ref: str) -> dict[str, str]:
    """Caching for what is derived from a version: a day when ``ref`` is a commit id (its
    content never changes), revalidated each time when it names a branch that may move."""
    lasting = is_full_id(ref)
    return {"Cache-Control": "private, max-age=86400" if lasting else "private, no-cache"}


def _series(ctx: DatasetContext, platform: Platform, ref: str, series_key: str) -> SeriesRow:
    commit = ctx.repo.resolve(ref)
    for row in imaging.series_at(platform, ctx.dataset.id, commit.id, ctx.full_name):
        if row.series_key == series_key:
            return row
    raise NotFound(f"no series {series_key!r} at {ref!r} (has the pipeline run?)")


@router.get("/refs/{ref}/series", operation_id="imaging-list-series")
@requires(Policy.DATASET_READ)
def list_series(ctx: DatasetDep, platform: PlatformDep, ref: str) -> dict[str, Any]:
    """Series and NIfTI volumes of a version, as the pipeline derived them, with their lineage."""
    commit = ctx.repo.resolve(ref)
    rows = imaging.series_at(platform, ctx.dataset.id, commit.id, ctx.full_name)
    return {
        "commit": commit.id,
        "processed": imaging.processed(platform, ctx.dataset.id, commit.id) or ctx.repo.count(commit.id) == 0,
        "items": [
            {
                "series_key": row.series_key,
                "kind": row.kind,
                "study_uid": row.study_uid,
                "modality": row.modality,
                "body_part": row.body_part,
                "description": row.description,
                "instances": row.instances,
                "members": json.loads(row.members),
                "commit": row.commit_id,
                "thumbnail": bool(row.thumbnail_key),
                "thumbnail_error": row.thumbnail_error,
                "nifti": bool(row.nifti_key),
                "nifti_error": row.nifti_error,
            }
            for row in rows
        ],
    }


@router.get("/refs/{ref}/series/thumbnail", operation_id="imaging-series-thumbnail")
@requires(Policy.DATASET_READ)
def series_thumbnail(
    ctx: DatasetDep, session: SessionDep, platform: PlatformDep, request: Request, ref: str, series_key: str
) -> Response:
    """The PNG the pipeline rendered for one series of a version."""
    row = _series(ctx, platform, ref, series_key)
    if not row.thumbnail_key:
        raise NotFound(f"no thumbnail for series {series_key!r} at {ref!r} (has the pipeline run?)")
    ctx.record(session, "image.view", ref=ref, object=series_key, ip=client_ip(request), details={})
    return Response(
        imaging.derived_bytes(platform, row.thumbnail_key), media_type="image/png", headers=cached(ref)
    )


@router.get("/refs/{ref}/series/nifti", operation_id="imaging-series-nifti")
@requires(Policy.DATASET_READ)
def series_nifti(
    ctx: DatasetDep, session: SessionDep, platform: PlatformDep, request: Request, ref: str, series_key: str
) -> Response:
    """The NIfTI volume the pipeline converted one DICOM series into (for NiiVue and for training)."""
    row = _series(ctx, platform, ref, series_key)
    if not row.nifti_key:
        raise NotFound(
            f"no NIfTI volume for series {series_key!r} at {ref!r}: {row.nifti_error or 'not converted yet'}"
        )
    ctx.record(
        session, "image.view", ref=ref, object=series_key, ip=client_ip(request), details={"nifti": True}
    )
    headers = {**cached(ref), "Content-Disposition": 'inline; filename="series.nii.gz"'}
    return Response(
        imaging.derived_bytes(platform, row.nifti_key), media_type="application/gzip", headers=headers
    )


@router.get("/refs/{ref}/objects/thumbnail", operation_id="imaging-object-thumbnail")
@requires(Policy.DATASET_READ)
def object_thumbnail(
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    request: Request,
    ref: str,
    path: str,
    size: int = Query(256, description="Longest side in pixels (16-1024)"),
) -> Response:
    """A PNG of one DICOM instance or NIfTI volume, rendered on first request."""
    entry = ctx.repo.stat(ref, path)
    png = imaging.instance_thumbnail_png(platform, entry, size)
    ctx.record(session, "image.view", ref=ref, object=path, ip=client_ip(request), details={"size": size})
    return Response(png, media_type="image/png", headers=cached(ref))
