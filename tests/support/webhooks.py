"""Webhook tests' shared setup: the lab/brain dataset and a hook on it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from imagehub.models.dataset import Dataset
from imagehub.services import datasets, webhooks
from imagehub.services.platform import Platform

SECRET = "s3cret-for-tests"


def dataset_of(session: Session) -> Dataset:
    return datasets.get(session, owner="lab", name="brain")


def subscribe(
    platform: Platform,
    url: str,
    events: Sequence[str] = webhooks.EVENTS,
    *,
    active: bool = True,
    allow_private_networks: bool | None = None,
) -> int:
    """A hook on lab/brain; private networks as the server allows unless said otherwise."""
    if allow_private_networks is None:
        allow_private_networks = platform.settings.webhook_allow_private_networks
    with platform.sessions.begin() as session:
        hook = webhooks.create_hook(
            session,
            dataset_of(session),
            actor="lab",
            url=url,
            events=events,
            secret=SECRET,
            active=active,
            allow_private_networks=allow_private_networks,
        )
        return hook.id
