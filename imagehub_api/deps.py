"""Typed dependencies shared by every router."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal, Role
from imagehub.core.vcs import Repository
from imagehub.models.dataset import Dataset
from imagehub.services import audit, datasets
from imagehub.services.access import Decision
from imagehub.services.platform import Platform


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_session(platform: PlatformDep) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, else rolled back.

    It ends before the response is sent ("function" scope), so a client that got a 2xx
    can rely on the write being durable and visible to its next request.
    """
    with platform.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(request: Request) -> Principal:
    """The caller, as resolved by the enforcement dependency."""
    principal: Principal = request.state.principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_holder(principal: PrincipalDep) -> int:
    """The caller's user id, under which their uploads prove they hold a blob's bytes."""
    assert principal.user_id is not None, "only routes that need a signed-in caller take it"
    return principal.user_id


HolderDep = Annotated[int, Depends(get_holder)]


def get_actor(principal: PrincipalDep) -> str:
    return principal.username


ActorDep = Annotated[str, Depends(get_actor)]


@dataclass
class DatasetContext:
    dataset: Dataset
    repo: Repository
    actor: str
    role: Role

    @property
    def full_name(self) -> str:
        return self.dataset.full_name

    def record(self, session: Session, action: str, **fields: Any) -> None:
        """An audit event by the caller about this dataset, in the request's transaction."""
        audit.record(session, actor=self.actor, action=action, dataset=self.full_name, **fields)


def dataset_context(request: Request, session: SessionDep, actor: ActorDep) -> DatasetContext:
    """The dataset a route works on, already authorised by ``security.enforce``."""
    decision: Decision = request.state.decision
    dataset = session.get(Dataset, decision.dataset.id)
    assert dataset is not None
    return DatasetContext(dataset, datasets.repository(session, dataset), actor, decision.role)


DatasetDep = Annotated[DatasetContext, Depends(dataset_context)]
