"""Webhooks of a dataset and their delivery log: /api/v1/datasets/{owner}/{name}/hooks.

Only dataset admins manage hooks: a hook sends the dataset's activity to any URL. The
secret is in the answer to the create call only; listings and details never carry it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from imagehub.core.redact import masked_url
from imagehub.models.webhooks import Webhook, WebhookAttempt
from imagehub.services import webhooks
from imagehub_api.deps import DatasetDep, PlatformDep, SessionDep
from imagehub_api.pagination import page as paginate
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/hooks", tags=["webhooks"])
Limit = Query(50, ge=1, le=webhooks.MAX_PAGE)


class HookCreate(BaseModel):
    url: str = Field(description="http:// or https:// URL that receives the POSTs")
    events: list[str] = Field(description=f"Any of {', '.join(webhooks.EVENTS)}")
    secret: str = Field("", description="HMAC key; generated when empty, and shown once")
    active: bool = True


class HookUpdate(BaseModel):
    url: str | None = None
    events: list[str] | None = None
    secret: str | None = Field(None, description="A new HMAC key for deliveries sent from now on")
    active: bool | None = None


def hook_dict(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": masked_url(hook.url),  # a password in it is a secret, shown only when set
        "events": webhooks.events_of(hook),
        "active": hook.active,
        "created_by": hook.created_by,
        "created_at": hook.created_at.isoformat(),
    }


def _attempt_dict(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "started_at": attempt.started_at.isoformat(),
        "duration_ms": attempt.duration_ms,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "response_excerpt": attempt.response_excerpt,
    }


def delivery_dict(logged: webhooks.LoggedDelivery) -> dict[str, Any]:
    delivery = logged.delivery
    return {
        "delivery": delivery.delivery,
        "event": delivery.event,
        "state": delivery.state,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.state == "pending" else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "body": json.loads(delivery.payload),
        "attempts": [_attempt_dict(a) for a in logged.attempts],
    }


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="webhooks-create")
@requires(Policy.DATASET_ADMIN)
def create(ctx: DatasetDep, session: SessionDep, platform: PlatformDep, body: HookCreate) -> dict[str, Any]:
    """Subscribe a URL; the answer carries the secret, which is never shown again.

    A URL whose host does not resolve, or resolves to a non-public address, is refused
    (422) unless the server allows private networks."""
    hook = webhooks.create_hook(
        session,
        ctx.dataset,
        actor=ctx.actor,
        url=body.url,
        events=body.events,
        secret=body.secret,
        active=body.active,
        allow_private_networks=platform.settings.webhook_allow_private_networks,
    )
    return {**hook_dict(hook), "secret": hook.secret}


@router.get("", operation_id="webhooks-list")
@requires(Policy.DATASET_ADMIN)
def list_hooks(
    ctx: DatasetDep,
    session: SessionDep,
    after: int = Query(0, ge=0, description="Last id of the previous page"),
    limit: int = Limit,
) -> dict[str, Any]:
    found = webhooks.list_hooks(session, ctx.dataset, after=after, limit=limit)
    return paginate(found, limit, hook_dict, lambda h: h.id)


@router.get("/{hook_id}", operation_id="webhooks-get")
@requires(Policy.DATASET_ADMIN)
def get(ctx: DatasetDep, session: SessionDep, hook_id: int) -> dict[str, Any]:
    return hook_dict(webhooks.get_hook(session, ctx.dataset, hook_id))


@router.patch("/{hook_id}", operation_id="webhooks-update")
@requires(Policy.DATASET_ADMIN)
def update(
    ctx: DatasetDep, session: SessionDep, platform: PlatformDep, hook_id: int, body: HookUpdate
) -> dict[str, Any]:
    hook = webhooks.get_hook(session, ctx.dataset, hook_id)
    updated = webhooks.update_hook(
        session,
        ctx.dataset,
        hook,
        actor=ctx.actor,
        url=body.url,
        events=body.events,
        secret=body.secret,
        active=body.active,
        allow_private_networks=platform.settings.webhook_allow_private_networks,
    )
    return hook_dict(updated)


@router.delete("/{hook_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="webhooks-delete")
@requires(Policy.DATASET_ADMIN)
def delete(ctx: DatasetDep, session: SessionDep, hook_id: int) -> None:
    """Remove the hook and its delivery log."""
    hook = webhooks.get_hook(session, ctx.dataset, hook_id)
    webhooks.delete_hook(session, ctx.dataset, hook, actor=ctx.actor)


@router.get("/{hook_id}/deliveries", operation_id="webhooks-deliveries")
@requires(Policy.DATASET_ADMIN)
def deliveries(
    ctx: DatasetDep,
    session: SessionDep,
    hook_id: int,
    after: int = Query(0, ge=0, description="`next_after` of the previous page"),
    limit: int = Limit,
) -> dict[str, Any]:
    """The delivery log, oldest first: each delivery with the body sent and every attempt."""
    hook = webhooks.get_hook(session, ctx.dataset, hook_id)
    found = webhooks.list_deliveries(session, hook, after=after, limit=limit)
    return paginate(found, limit, delivery_dict, lambda d: d.delivery.id)


@router.post(
    "/{hook_id}/deliveries/{delivery}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="webhooks-redeliver",
)
@requires(Policy.DATASET_ADMIN)
def redeliver(ctx: DatasetDep, session: SessionDep, hook_id: int, delivery: str) -> dict[str, Any]:
    """Send a delivery's body again, as a new delivery (queued now)."""
    hook = webhooks.get_hook(session, ctx.dataset, hook_id)
    queued = webhooks.redeliver(session, hook, delivery, actor=ctx.actor)
    return delivery_dict(webhooks.LoggedDelivery(queued, []))


@router.post("/{hook_id}/ping", status_code=status.HTTP_202_ACCEPTED, operation_id="webhooks-ping")
@requires(Policy.DATASET_ADMIN)
def ping(ctx: DatasetDep, session: SessionDep, hook_id: int) -> dict[str, Any]:
    """Queue a `ping` delivery to this hook, to check its receiver."""
    hook = webhooks.get_hook(session, ctx.dataset, hook_id)
    return delivery_dict(
        webhooks.LoggedDelivery(webhooks.ping(session, ctx.dataset, hook, actor=ctx.actor), [])
    )
