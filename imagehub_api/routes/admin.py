"""Site administration: the audit log (JSON, export, HTML page) and legal holds."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel

from imagehub.core.audit import AuditRecord
from imagehub.models.audit import LegalHold
from imagehub.services import audit
from imagehub_api.deps import ActorDep, PrincipalDep, SessionDep
from imagehub_api.pagination import page as paginate
from imagehub_api.security import Policy, requires
from imagehub_api.web.render import page

router = APIRouter(tags=["admin"])


def audit_filter(
    actor: str = "", action: str = "", dataset: str = "", since: str = "", until: str = ""
) -> audit.AuditFilter:
    """The filters every audit view and the export take from the query string."""
    return audit.AuditFilter.parse(actor=actor, action=action, dataset=dataset, since=since, until=until)


AuditQueryDep = Annotated[audit.AuditFilter, Depends(audit_filter)]


class HoldBody(BaseModel):
    reason: str
    dataset: str = ""


def _record_dict(rec: AuditRecord) -> dict[str, Any]:
    return {**rec.content(), "id": rec.id, "hash": rec.hash}


@router.get("/api/v1/admin/audit", operation_id="admin-audit-list")
@requires(Policy.SITE_ADMIN)
def list_audit(
    session: SessionDep, query: AuditQueryDep, after: int = 0, limit: int = Query(100, ge=1, le=10_000)
) -> dict[str, Any]:
    found = audit.search(session, **asdict(query), after=after, limit=limit)
    return paginate(found, limit, _record_dict, lambda r: r.id)


@router.get("/api/v1/admin/audit/verify", operation_id="admin-audit-verify")
@requires(Policy.SITE_ADMIN)
def verify_audit(session: SessionDep) -> dict[str, Any]:
    """Walk the whole chain, and record the result for the admin page."""
    problem = audit.check(session, whole=True).problem
    return {
        "ok": problem is None,
        "event_id": problem.event_id if problem else None,
        "reason": problem.reason if problem else None,
    }


@router.get("/api/v1/admin/audit/export", operation_id="admin-audit-export")
@requires(Policy.SITE_ADMIN)
def export_audit(
    session: SessionDep,
    actor: ActorDep,
    query: AuditQueryDep,
    format: str = Query("csv", pattern="^(csv|json)$"),
) -> StreamingResponse:
    """The events the filters match, as the page lists them; the export is itself recorded."""
    details = {"format": format, **query.as_query()}
    audit.record(session, actor=actor, action="audit.export", details=details)
    rows = list(audit.export(session, format, query))  # read inside the request's transaction
    media, suffix = ("text/csv", "csv") if format == "csv" else ("application/x-ndjson", "jsonl")
    headers = {"Content-Disposition": f'attachment; filename="imagehub-audit.{suffix}"'}
    return StreamingResponse(iter(rows), media_type=media, headers=headers)


@router.post("/api/v1/admin/legal-holds", status_code=status.HTTP_201_CREATED, operation_id="admin-hold-add")
@requires(Policy.SITE_ADMIN)
def add_hold(session: SessionDep, actor: ActorDep, body: HoldBody) -> dict[str, Any]:
    return _hold_dict(audit.add_legal_hold(session, actor=actor, reason=body.reason, dataset=body.dataset))


def _hold_dict(hold: LegalHold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "dataset": hold.dataset,
        "reason": hold.reason,
        "created_by": hold.created_by,
        "created_at": hold.created_at.isoformat(),
    }


@router.get("/api/v1/admin/legal-holds", operation_id="admin-hold-list")
@requires(Policy.SITE_ADMIN)
def list_holds(session: SessionDep) -> dict[str, Any]:
    """The legal holds in force (an empty dataset holds every event)."""
    return {"results": [_hold_dict(hold) for hold in audit.active_holds(session)]}


@router.delete(
    "/api/v1/admin/legal-holds/{hold_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="admin-hold-release",
)
@requires(Policy.SITE_ADMIN)
def release_hold(session: SessionDep, actor: ActorDep, hold_id: int) -> None:
    audit.release_legal_hold(session, actor=actor, hold_id=hold_id)


@router.get(
    "/admin/audit", response_class=HTMLResponse, include_in_schema=False, operation_id="admin-audit-page"
)
@requires(Policy.SITE_ADMIN)
def audit_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    query: AuditQueryDep,
    before: int = Query(0, ge=0),
    after: int = Query(0, ge=0),
    verify: str = Query("", pattern="^(whole)?$"),
) -> HTMLResponse:
    """Newest events first, a keyset page at a time; the chain checked from its checkpoint
    (only what was appended since), or whole when asked."""
    found = audit.newest_first(session, before=before, after=after, **asdict(query))
    filters = urlencode(query.as_query())
    return page(
        request,
        "admin_audit.html",
        {
            "principal": principal,
            "events": found.events,
            "filters": query,
            "filter_query": filters,
            "older": found.older,
            "newer": found.newer,
            "chain": audit.check(session, whole=verify == "whole"),
        },
    )
