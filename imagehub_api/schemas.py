"""Request bodies of the REST API (responses are the domain objects' ``as_dict``)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, field_validator

from imagehub.core.media import MEDIA_TYPE_RULE, is_media_type
from imagehub.core.vcs import ChangeSet, Entry, MergeStrategy
from imagehub.models.dataset import Dataset


class DatasetCreate(BaseModel):
    owner: str = Field(examples=["radiology-lab"])
    name: str = Field(examples=["brain-mri"])
    description: str = ""
    visibility: str = Field("private", pattern="^(private|internal|public)$")
    default_branch: str = "main"
    datasheet: bool = Field(
        False, description="Start with a README.md from the Datasheets for Datasets template"
    )


class DatasetDerive(BaseModel):
    owner: str
    name: str
    ref: str = Field(description="Branch, tag or commit of the source to start from")
    prefixes: list[str] = Field(default_factory=list, description="Only these path prefixes (empty: all)")
    description: str = ""


class BranchCreate(BaseModel):
    name: str
    source: str = Field(description="Branch, tag or commit the new branch starts at")


MESSAGE_LIMIT = 64 * 1024  # characters of a commit, tag or merge message: each is copied to every hook
Message = Annotated[str, Field(max_length=MESSAGE_LIMIT)]


class TagCreate(BaseModel):
    name: str
    ref: str
    message: Message = ""


class Protection(BaseModel):
    protected: bool
    required_approvals: int | None = Field(
        None, ge=0, le=20, description="Approvals on the current head a proposal needs to merge"
    )
    required_checks: list[str] | None = Field(
        None, description="Check names that must pass on the proposal's head (besides the pipeline's own)"
    )


class EntryIn(BaseModel):
    path: str
    blob: str = Field(description="SHA-256 of the content, uploaded beforehand")
    size: int = Field(ge=0)
    media_type: str = "application/octet-stream"
    summary: dict[str, Any] | None = None

    @field_validator("media_type")
    @classmethod
    def _header_value(cls, media_type: str) -> str:
        """Every download sends it back as Content-Type: it must be a header value."""
        if not is_media_type(media_type):
            raise ValueError(MEDIA_TYPE_RULE)
        return media_type

    @field_validator("summary")
    @classmethod
    def _finite(cls, summary: dict[str, Any] | None) -> dict[str, Any] | None:
        """NaN and infinities are not JSON: a manifest could not give them back."""
        if summary is not None and not _all_finite(summary):
            raise ValueError("summary numbers must be finite (no NaN or Infinity)")
        return summary


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_all_finite(item) for item in value)
    return True


class Changes(BaseModel):
    put: list[EntryIn] = Field(default_factory=list)
    delete: list[str] = Field(default_factory=list)
    delete_prefix: list[str] = Field(default_factory=list)

    def to_change_set(self) -> ChangeSet:
        changes = ChangeSet()
        for prefix in self.delete_prefix:
            changes.delete_prefix(prefix)
        for path in self.delete:
            changes.delete(path)
        for item in self.put:
            changes.put(Entry(item.path, item.blob, item.size, item.media_type, item.summary))
        return changes


# Keys ImageHub writes itself: forks, merges of proposals, reverts and de-identification are
# recognised by them, so nobody may set them by hand.
RESERVED_METADATA = frozenset(
    {
        "derived_from",
        "derived_commit",
        "merged_from",
        "merged_commit",
        "proposal",
        "reverts",
        "deidentified_from",
    }
)


def _user_metadata(value: dict[str, str]) -> dict[str, str]:
    taken = sorted(RESERVED_METADATA & value.keys())
    if taken:
        raise ValueError(f"metadata keys {', '.join(taken)} are set by ImageHub itself")
    return value


UserMetadata = Annotated[dict[str, str], AfterValidator(_user_metadata)]


class CommitCreate(BaseModel):
    message: Message = Field(min_length=1)
    changes: Changes = Field(default_factory=Changes)
    metadata: UserMetadata = Field(default_factory=dict)
    expected_parent: str | None = Field(None, description="Refuse the commit unless the branch is still here")
    allow_empty: bool = False


class MergeCreate(BaseModel):
    source: str
    destination: str
    strategy: MergeStrategy = MergeStrategy.FAIL
    message: Message = ""
    metadata: UserMetadata = Field(default_factory=dict)


class RevertCreate(BaseModel):
    commit: str
    parent_number: int = Field(1, ge=1)


def dataset_dict(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "owner": dataset.owner,
        "name": dataset.name,
        "full_name": dataset.full_name,
        "description": dataset.description,
        "visibility": dataset.visibility,
        "default_branch": dataset.default_branch,
        "created_at": dataset.created_at.isoformat(),
        "deleted_at": dataset.deleted_at.isoformat() if dataset.deleted_at else None,
    }
