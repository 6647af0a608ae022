"""Datasets: create, find, list, soft-delete, restore, derive.

A dataset is a repository of the versioning engine; creating one makes its default
branch with an empty first commit, so a dataset always has something to clone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import chain

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import Repository, Stores, validate_ref_name
from imagehub.core.vcs.changes import prefix_range
from imagehub.core.vcs.types import Entry
from imagehub.models import dataset as dataset_queries
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset, DatasetLineage, lock_dataset
from imagehub.models.vcs import SqlBlobIndex, SqlCommitStore, SqlDeltaStore, SqlNodeStore
from imagehub.services import webhooks
from imagehub.services.accounts import RESERVED_NAMES

_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}\Z")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
VISIBILITIES = ("private", "internal", "public")
MAX_PAGE = 1000


def validate_owner(owner: str) -> str:
    """A name datasets may live under: not one the portal's paths or the system use, where
    ``api/x`` would sit behind the API's routes and ``pipeline`` pass for the pipeline."""
    if not _OWNER.match(owner):
        raise InvalidInput(f"invalid owner {owner!r}: letters, digits and '-', up to 64")
    if owner.lower() in RESERVED_NAMES:
        raise InvalidInput(f"{owner!r} is reserved: datasets cannot live under it")
    return owner


def validate_name(name: str) -> str:
    if not _NAME.match(name) or name.endswith((".", ".git")) or ".." in name:
        raise InvalidInput(f"invalid dataset name {name!r}: letters, digits, '_', '.' and '-', up to 100")
    return name


def repository(session: Session, dataset: Dataset) -> Repository:
    """The versioning engine over this dataset, inside the caller's transaction."""
    return Repository(
        Stores(
            refs=webhooks.PushNotifyingRefs(session, dataset),  # every branch move fires `push`
            commits=SqlCommitStore(session, dataset.id),
            nodes=SqlNodeStore(session),
            blobs=SqlBlobIndex(session),
            deltas=SqlDeltaStore(session),
        )
    )


def create(
    session: Session,
    *,
    owner: str,
    name: str,
    author: str,
    description: str = "",
    visibility: str = "private",
    default_branch: str = "main",
) -> Dataset:
    validate_owner(owner)
    validate_name(name)
    validate_ref_name(default_branch, "branch")
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}")
    if dataset_queries.get_live(session, owner=owner, name=name) is not None:
        raise Conflict(f"dataset {owner}/{name} already exists")
    dataset = Dataset(
        owner=owner, name=name, description=description, visibility=visibility, default_branch=default_branch
    )
    session.add(dataset)
    session.flush()
    repository(session, dataset).init(default_branch, author=author)
    return dataset


def get(session: Session, *, owner: str, name: str) -> Dataset:
    dataset = dataset_queries.get_live(session, owner=owner, name=name)
    if dataset is None:
        raise NotFound(f"dataset {owner}/{name} not found")
    return dataset


def list_datasets(
    session: Session, *, owner: str | None = None, text: str = "", after: int = 0, limit: int = 100
) -> list[Dataset]:
    """Live datasets in creation order; ``after`` is the last id of the previous page; ``text``
    matches owner, name or description, ignoring case."""
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    query = select(Dataset).where(Dataset.deleted_at.is_(None), Dataset.id > after)
    if owner:
        query = query.where(Dataset.owner == owner)
    if text.strip():
        pattern = (
            "%" + text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        fields = (Dataset.owner, Dataset.name, Dataset.description)
        query = query.where(or_(*(func.lower(f).like(pattern, escape="\\") for f in fields)))
    return list(session.scalars(query.order_by(Dataset.id).limit(limit)))


def delete(session: Session, *, owner: str, name: str) -> Dataset:
    """Soft delete: the dataset disappears but keeps its data until an admin restores it."""
    dataset = get(session, owner=owner, name=name)
    dataset.deleted_at = utcnow()
    return dataset


def deleted(session: Session, *, owner: str, name: str) -> list[Dataset]:
    """Deleted datasets that went by ``owner/name``, most recently deleted first."""
    return list(
        session.scalars(
            select(Dataset)
            .where(Dataset.owner == owner, Dataset.name == name, Dataset.deleted_at.is_not(None))
            .order_by(Dataset.deleted_at.desc(), Dataset.id.desc())
        )
    )


def restore(session: Session, *, owner: str, name: str, dataset_id: int | None = None) -> Dataset:
    """Bring back a deleted dataset: the one with ``dataset_id`` (see ``deleted``), else the
    most recently deleted of that name. Its name must be free: derived datasets and proposals
    know their upstream by name, so a dataset is never brought back under another."""
    found = deleted(session, owner=owner, name=name)
    if dataset_id is not None:
        found = [d for d in found if d.id == dataset_id]
    if not found:
        which = f" with id {dataset_id}" if dataset_id is not None else ""
        raise NotFound(f"no deleted dataset {owner}/{name}{which}")
    if dataset_queries.get_live(session, owner=owner, name=name) is not None:
        raise Conflict(
            f"a live dataset {owner}/{name} holds the name: delete it first (it can be restored later by id)"
        )
    dataset = found[0]
    dataset.deleted_at = None
    return dataset


def derive(
    session: Session,
    *,
    source: Dataset,
    ref: str,
    owner: str,
    name: str,
    author: str,
    prefixes: list[str] | None = None,
    description: str = "",
) -> Dataset:
    """A new dataset whose first commit is ``source`` at ``ref`` (or the given subset).

    Zero-copy: the new manifest references the source's blobs; a full copy even reuses
    the source's tree as it is.
    """
    lock_dataset(session, source)  # its visibility, read below, cannot change meanwhile
    source_repo = repository(session, source)
    commit = source_repo.resolve(ref)
    derived = create(
        session, owner=owner, name=name, author=author, description=description, visibility=source.visibility
    )
    session.add(DatasetLineage(dataset_id=derived.id, source_id=source.id))
    target = repository(session, derived)
    tree = commit.tree
    if prefixes:
        ranges = [prefix_range(p) for p in sorted(set(prefixes))]
        picked: Iterator[Entry] = chain.from_iterable(source_repo.tree.iterate(tree, s, e) for s, e in ranges)
        tree, _ = target.build_tree(_unique_sorted(picked))
    scope = ", ".join(prefixes) if prefixes else "everything"
    target.commit_tree(
        derived.default_branch,
        tree,
        author=author,
        message=f"Derived from {source.full_name}@{commit.id[:12]} ({scope})",
        metadata={"derived_from": source.full_name, "derived_commit": commit.id},
    )
    source_repo.stores.commits.hold([commit.id])  # now shared: gc may be removing it
    return derived


def _unique_sorted(entries: Iterator[Entry]) -> Iterator[Entry]:
    """Entries of possibly overlapping prefix ranges, once each and in path order."""
    yield from sorted({e.path: e for e in entries}.values(), key=lambda e: e.path)
