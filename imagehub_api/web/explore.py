"""The front page: every dataset the visitor may read, with filters."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal
from imagehub.models.dataset import Dataset
from imagehub.services import access, explore
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
    shown, next_after = _page(session, principal, q=q, owner=owner, modality=modality, after=after)
    context = {
        "summaries": shown,
        "filters": {"q": q, "owner": owner, "modality": modality},
        "next_after": next_after,
    }
    return page(request, "explore.html", context)


def _page(
    session: Session, principal: Principal, *, q: str, owner: str, modality: str, after: int
) -> tuple[list[explore.Summary], int | None]:
    """Up to PAGE summaries that pass every filter, and the id to continue after (None at the
    end): hidden or filtered-out datasets never leave a page short while more follow."""
    summaries: dict[int, explore.Summary] = {}

    def has_modality(dataset: Dataset) -> bool:
        summaries[dataset.id] = summary = explore.summarise(session, dataset)
        return explore.has_modality(summary, modality)

    shown, next_after = access.readable_page(
        session, principal, owner=owner or None, text=q, after=after, limit=PAGE, keep=has_modality
    )
    return [summaries[dataset.id] for dataset in shown], next_after
