"""Plain tags: the one way a tag is made or removed outside a release.

A tag is what ``clone --ref`` downloads, so on a shared (internal or public) dataset it is
published data like a release: the PHI gate must have passed on the tagged commit. The one
exception is a commit that only PHI branches hold: reading a tag of it opens PHI, so it
stays behind the PHI access gate (``access.opens_phi``) whatever its name. Judging by the
commit, not by the ref's name, keeps a PHI branch that merely points at shared history
from tagging that history unchecked.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict
from imagehub.core.vcs import Ref, RefKind, Repository
from imagehub.models import releases as release_queries
from imagehub.models.dataset import Dataset
from imagehub.services import access, audit, checks


def required_checks(session: Session, dataset: Dataset, commit_id: str) -> list[str]:
    """What a new tag on ``commit_id`` needs passed: a release's checks, unless the commit
    is reachable from PHI branches only."""
    if access.opens_phi(session, dataset, commit_id):
        return []
    return checks.required_for_release(dataset)


def create(
    session: Session, dataset: Dataset, repo: Repository, *, name: str, ref: str, message: str, actor: str
) -> Ref:
    """Tag the commit ``ref`` resolves to, once its required checks passed (else ``Blocked``);
    checking and tagging that one id keeps the check and the tag about the same data."""
    commit_id = repo.resolve(ref).id
    checks.require_passed(session, dataset, commit_id, required_checks(session, dataset, commit_id))
    created = repo.create_tag(name, commit_id, message)
    audit.record(
        session,
        actor=actor,
        action="tag.create",
        dataset=dataset.full_name,
        object=f"tag:{name}",
        ref=ref,
        commit=created.commit,
        details={"tag": name},
    )
    return created


def delete(session: Session, dataset: Dataset, repo: Repository, *, name: str, actor: str) -> None:
    """Remove a tag; the audit trail keeps the commit it named. A release's tag stays: a
    release is immutable and citable, and its tag is how its version is reached."""
    found = repo.get_ref(name, RefKind.TAG)
    if release_queries.by_tag(session, dataset.id, name) is not None:
        raise Conflict(f"tag {name!r} belongs to a release, which is immutable: it cannot be deleted")
    repo.delete_ref(name, RefKind.TAG)
    audit.record(
        session,
        actor=actor,
        action="tag.delete",
        dataset=dataset.full_name,
        object=f"tag:{name}",
        ref=name,
        commit=found.commit,
    )
