"""Creating a dataset from the portal, with the datasheet template offered (ticked by default)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from imagehub.services import creation
from imagehub_api.deps import PlatformDep, PrincipalDep, SessionDep
from imagehub_api.security import Policy, requires
from imagehub_api.web.forms import form_page
from imagehub_api.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/new", response_class=HTMLResponse, operation_id="portal-dataset-form")
@requires(Policy.AUTHENTICATED)
def form(request: Request, principal: PrincipalDep) -> HTMLResponse:
    return page(request, "dataset_new.html", {"owner": principal.username})


@router.post("/new", operation_id="portal-dataset-create")
@requires(Policy.AUTHENTICATED)
@form_page("/new")
def create(
    session: SessionDep,
    principal: PrincipalDep,
    platform: PlatformDep,
    owner: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=100)],
    description: Annotated[str, Form(max_length=2000)] = "",
    visibility: Annotated[str, Form(pattern="^(private|internal|public)$")] = "private",
    with_datasheet: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    creation.create_dataset(
        session,
        platform,
        principal,
        owner=owner,
        name=name,
        description=description,
        visibility=visibility,
        with_datasheet=with_datasheet,
    )
    return RedirectResponse(f"/{owner}/{name}", status_code=303)
