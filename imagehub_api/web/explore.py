"""The front page: every dataset the visitor may read, with filters."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from imagehub.services import access, datasets, explore
from imagehub_api.deps import PrincipalDep, SessionDep
from imagehub_api.security import Policy, requires
from imagehub_api.web.render import page

router = APIRouter(include_in_schema=False)
PAGE = 50


@router.get("/", response_class=HTMLResponse, operation_id="portal-explore")
@requires(Policy.PUBLIC)
def explore_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    q: str = Query("", max_length=200),
    owner: str = Query("", max_length=64),
    modality: str = Query("", max_length=16),
    after: int = Query(0, ge=0),
) -> HTMLResponse:
    batch = datasets.list_datasets(session, owner=owner or None, text=q, after=after, limit=PAGE)
    visible = access.readable(session, principal, batch)
    summaries = [explore.summarise(session, d) for d in visible]
    shown = [s for s in summaries if explore.has_modality(s, modality)]
    context = {
        "summaries": shown,
        "filters": {"q": q, "owner": owner, "modality": modality},
        "next_after": batch[-1].id if len(batch) == PAGE else None,
    }
    return page(request, "explore.html", context)
