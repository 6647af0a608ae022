"""Looking at images: one series at a version, two versions side by side, and uploading."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from imagehub.core.errors import NotFound
from imagehub.core.vcs import RefKind
from imagehub.core.vcs.types import Commit
from imagehub.models.imaging import SeriesRow
from imagehub.services import browse
from imagehub.services.imaging import DOCUMENT, NIFTI_KEY
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.security import Policy, requires
from imagehub_api.web.assets import preloads
from imagehub_api.web.dataset import frame, pipeline_panel
from imagehub_api.web.render import page

router = APIRouter(prefix="/{owner}/{name}", include_in_schema=False)
MEMBERS_SHOWN = 200


def api_root(ctx: DatasetContext, commit: Commit) -> str:
    """Pinned to the commit id, so the widget keeps showing this version if the branch moves."""
    return f"/api/v1/datasets/{ctx.full_name}/refs/{commit.id}"


def content_url(root: str, path: str) -> str:
    return f"{root}/objects/content?path={quote(path, safe='/')}"


def thumbnail_url(ctx: DatasetContext, commit: Commit, row: SeriesRow) -> str:
    """Empty where the pipeline made no thumbnail, which the page would show as a broken image:
    a document series has no pixels, and a series whose middle slice cannot be decoded has
    none to draw (nor has any series before the pipeline's run reaches it)."""
    if not row.thumbnail_key:
        return ""
    return f"{api_root(ctx, commit)}/series/thumbnail?series_key={quote(row.series_key, safe='')}"


def widget(ctx: DatasetContext, commit: Commit, row: SeriesRow) -> dict[str, Any]:
    """The data attributes the viewer widget mounts from (see viewer/src/main.ts); a document
    series (SR, RT plan, RT structures; CIFTI) gets a panel saying so instead, as it has no
    frames."""
    root = api_root(ctx, commit)
    members: list[str] = json.loads(row.members)
    if row.kind == DOCUMENT:
        return {"kind": DOCUMENT, "nifti": row.series_key.startswith(NIFTI_KEY)}
    if row.kind == "nifti":
        return {
            "kind": "nifti",
            "volume_url": content_url(root, members[0]),
            "volume_name": members[0].rsplit("/", 1)[-1],
        }
    return {
        "kind": "dicom",
        "wado_root": f"{root}/dicomweb",
        "study": row.study_uid or "",
        "series": row.series_key,
        "volume_url": f"{root}/series/nifti?series_key={quote(row.series_key, safe='')}"
        if row.nifti_key
        else "",
        "volume_name": "series.nii.gz",
    }


@router.get("/view/{ref}", response_class=HTMLResponse, operation_id="portal-view-series")
@requires(Policy.DATASET_READ)
def view(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    platform: PlatformDep,
    ref: str,
    series: str = Query(max_length=128),
    view: str = Query("stack", pattern="^(stack|volume)$", alias="as"),
    overlay: str = Query("", max_length=1024, description="A NIfTI label map of the same version"),
) -> HTMLResponse:
    """One series; ``as=volume`` shows a DICOM series' NIfTI conversion in NiiVue instead,
    and ``overlay`` lays a label map over a volume."""
    commit = ctx.repo.resolve(ref)
    row = browse.series_row(session, ctx.dataset.id, commit.id, series)
    members: list[str] = json.loads(row.members)
    shown = widget(ctx, commit, row)
    if view == "volume" and shown["kind"] == "dicom":
        if not shown["volume_url"]:
            raise NotFound(
                f"series {series!r} has no NIfTI conversion at {ref!r}: {row.nifti_error or 'not yet'}"
            )
        shown = {"kind": "nifti", "volume_url": shown["volume_url"], "volume_name": shown["volume_name"]}
    if overlay and shown["kind"] == "nifti":
        entry = ctx.repo.stat(commit.id, overlay)
        shown["overlay_url"] = content_url(api_root(ctx, commit), entry.path)
        shown["overlay_name"] = entry.path.rsplit("/", 1)[-1]
    context = {
        **frame(ctx, "series", ref, commit),
        **pipeline_panel(ctx, session, platform, commit),
        "row": row,
        "widget": shown,
        "preloads": preloads({shown["kind"]}),
        "has_volume": row.kind == "dicom" and bool(row.nifti_key),
        "overlays": [p for p in browse.nifti_paths(session, ctx.dataset.id, commit.id) if p not in members],
        "overlay": overlay,
        "view": view,
        "thumbnail": thumbnail_url(ctx, commit, row),
        "members": members[:MEMBERS_SHOWN],
        "more_members": max(0, len(members) - MEMBERS_SHOWN),
    }
    return page(request, "viewer.html", context)


def series_side(ctx: DatasetContext, session: Session, commit: Commit, key: str) -> dict[str, Any] | None:
    """One side of a comparison: the series at a commit, or None where that version lacks it."""
    try:
        row = browse.series_row(session, ctx.dataset.id, commit.id, key)
    except NotFound:
        return None
    return {
        "commit": commit,
        "row": row,
        "widget": widget(ctx, commit, row),
        "thumbnail": thumbnail_url(ctx, commit, row),
    }


@router.get("/view-compare", response_class=HTMLResponse, operation_id="portal-view-compare")
@requires(Policy.DATASET_READ)
def view_compare(
    request: Request,
    ctx: DatasetDep,
    session: SessionDep,
    left: str = Query(max_length=255),
    right: str = Query(max_length=255),
    series: str = Query(max_length=128),
) -> HTMLResponse:
    """The same series before and after, in two synchronised viewports."""
    before, after = ctx.repo.resolve(left), ctx.repo.resolve(right)
    sides = [
        ("before", left, series_side(ctx, session, before, series)),
        ("after", right, series_side(ctx, session, after, series)),
    ]
    context = {
        **frame(ctx, "compare", right, after),
        "left_ref": left,
        "right_ref": right,
        "series_key": series,
        "preloads": preloads({side["widget"]["kind"] for _, _, side in sides if side}),
        "sides": sides,
    }
    return page(request, "view_compare.html", context)


@router.get("/upload/{branch}", response_class=HTMLResponse, operation_id="portal-upload")
@requires(Policy.DATASET_WRITE)
def upload(request: Request, ctx: DatasetDep, branch: str) -> HTMLResponse:
    """A folder from the browser into a new commit, through the resumable transport API."""
    head = ctx.repo.get_ref(branch, RefKind.BRANCH)
    context = {
        **frame(ctx, "upload", branch, ctx.repo.resolve(head.commit)),
        "api": f"/api/v1/datasets/{ctx.full_name}",
        "branch": branch,
    }
    return page(request, "upload.html", context)
