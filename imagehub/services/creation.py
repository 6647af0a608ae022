"""Creating a dataset on a person's behalf, new or derived from another: the dataset, its
audit event, and, when asked for, the datasheet template as the first version's README.md
(REST and portal alike). A member who creates one under their organisation (which only its
owners administer) is granted admin on it, or they could not see what they made."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal, Role
from imagehub.models.dataset import Dataset
from imagehub.services import access, audit, datasets, datasheet
from imagehub.services.platform import Platform


def create_dataset(
    session: Session,
    platform: Platform,
    principal: Principal,
    *,
    owner: str,
    name: str,
    description: str = "",
    visibility: str = "private",
    default_branch: str = "main",
    with_datasheet: bool = False,
) -> Dataset:
    """Create ``owner/name`` if ``principal`` may create there."""
    access.may_create_in(session, principal, owner)
    dataset = datasets.create(
        session,
        owner=owner,
        name=name,
        author=principal.username,
        description=description,
        visibility=visibility,
        default_branch=default_branch,
    )
    audit.record(
        session,
        actor=principal.username,
        action="dataset.create",
        dataset=f"{owner}/{name}",
        details={"visibility": visibility, "datasheet": with_datasheet},
    )
    _administer_what_they_made(session, principal, dataset)
    if with_datasheet:
        datasheet.add_template(session, platform, dataset, branch=default_branch, author=principal.username)
    return dataset


def derive_dataset(
    session: Session,
    principal: Principal,
    *,
    source: Dataset,
    ref: str,
    owner: str,
    name: str,
    prefixes: list[str] | None = None,
    description: str = "",
) -> Dataset:
    """``owner/name`` from ``source`` at ``ref`` (or a subset of its paths), sharing its data,
    if ``principal`` may create there and the ref holds no raw data."""
    access.may_create_in(session, principal, owner)
    access.refuse_phi_copy(session, source, ref)
    derived = datasets.derive(
        session,
        source=source,
        ref=ref,
        owner=owner,
        name=name,
        author=principal.username,
        prefixes=prefixes,
        description=description,
    )
    audit.record(
        session,
        actor=principal.username,
        action="dataset.derive",
        dataset=derived.full_name,
        ref=ref,
        details={"source": source.full_name, "prefixes": prefixes or []},
    )
    _administer_what_they_made(session, principal, derived)
    return derived


def _administer_what_they_made(session: Session, principal: Principal, dataset: Dataset) -> None:
    person = replace(principal, token_scope=None, token_dataset_id=None)  # the user, whatever the token
    if access.role_of(session, person, dataset) < Role.ADMIN:  # a member creating under their org
        access.grant(
            session, dataset=dataset, role="admin", actor=principal.username, username=principal.username
        )
