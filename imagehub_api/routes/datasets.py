"""Datasets: /api/v1/datasets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, status

from imagehub.services import access, audit, creation, datasets, datasheet
from imagehub_api.deps import ActorDep, DatasetDep, PlatformDep, PrincipalDep, SessionDep
from imagehub_api.schemas import DatasetCreate, DatasetDerive, dataset_dict
from imagehub_api.security import Policy, requires

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="datasets-create")
@requires(Policy.AUTHENTICATED)
def create_dataset(
    body: DatasetCreate, session: SessionDep, principal: PrincipalDep, platform: PlatformDep
) -> dict[str, Any]:
    """Create a dataset with its default branch and an empty first commit, and with
    ``datasheet`` a second commit adding the datasheet template as README.md."""
    fields = body.model_dump(exclude={"datasheet"})
    dataset = creation.create_dataset(session, platform, principal, **fields, with_datasheet=body.datasheet)
    return dataset_dict(dataset)


@router.get("", operation_id="datasets-list")
@requires(Policy.PUBLIC)
def list_datasets(
    session: SessionDep,
    principal: PrincipalDep,
    owner: str | None = None,
    after: int = Query(0, ge=0, description="Id of the last dataset of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    found, next_after = access.readable_page(session, principal, owner=owner, after=after, limit=limit)
    return {"results": [dataset_dict(d) for d in found], "next_after": next_after}


@router.get("/{owner}/{name}", operation_id="datasets-get")
@requires(Policy.DATASET_READ)
def get_dataset(ctx: DatasetDep) -> dict[str, Any]:
    return {**dataset_dict(ctx.dataset), "head": ctx.repo.resolve(ctx.dataset.default_branch).id}


@router.delete("/{owner}/{name}", status_code=status.HTTP_204_NO_CONTENT, operation_id="datasets-delete")
@requires(Policy.DATASET_ADMIN)
def delete_dataset(ctx: DatasetDep, session: SessionDep) -> None:
    """Soft delete: the data stays until an administrator restores or purges it."""
    datasets.delete(session, owner=ctx.dataset.owner, name=ctx.dataset.name)
    ctx.record(session, "dataset.delete")


@router.get("/{owner}/{name}/deleted", operation_id="datasets-list-deleted")
@requires(Policy.SITE_ADMIN)
def list_deleted(owner: str, name: str, session: SessionDep) -> dict[str, Any]:
    """Deleted datasets that went by this name, most recently deleted first (site administrators)."""
    return {"results": [dataset_dict(d) for d in datasets.deleted(session, owner=owner, name=name)]}


@router.post("/{owner}/{name}/restore", operation_id="datasets-restore")
@requires(Policy.SITE_ADMIN)
def restore_dataset(
    owner: str,
    name: str,
    session: SessionDep,
    actor: ActorDep,
    dataset_id: int | None = Query(
        None, alias="id", description="Which deleted dataset (default: the latest)"
    ),
) -> dict[str, Any]:
    """Undo a soft delete (site administrators)."""
    restored = datasets.restore(session, owner=owner, name=name, dataset_id=dataset_id)
    access.follow_source(session, restored, actor)
    audit.record(
        session,
        actor=actor,
        action="dataset.restore",
        dataset=restored.full_name,
        details={"id": restored.id},
    )
    return dataset_dict(restored)


@router.post("/{owner}/{name}/derive", status_code=status.HTTP_201_CREATED, operation_id="datasets-derive")
@requires(Policy.DATASET_READ)
def derive_dataset(
    ctx: DatasetDep, body: DatasetDerive, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A new dataset from a ref of this one, or a subset of its paths, without copying data."""
    derived = creation.derive_dataset(
        session,
        principal,
        source=ctx.dataset,
        ref=body.ref,
        owner=body.owner,
        name=body.name,
        prefixes=body.prefixes,
        description=body.description,
    )
    return dataset_dict(derived)


@router.post(
    "/{owner}/{name}/branches/{branch}/datasheet",
    status_code=status.HTTP_201_CREATED,
    operation_id="datasets-add-datasheet",
)
@requires(Policy.DATASET_WRITE)
def add_datasheet(ctx: DatasetDep, session: SessionDep, platform: PlatformDep, branch: str) -> dict[str, Any]:
    """Commit the Datasheets for Datasets template as README.md; 409 if the branch has a datasheet."""
    made = datasheet.add_template(session, platform, ctx.dataset, branch=branch, author=ctx.actor)
    return made.as_dict()
