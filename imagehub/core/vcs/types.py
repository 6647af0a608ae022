"""Value types of the versioning engine: ids, manifest entries, commits, diffs.

Ids are content hashes (SHA-256, hex): a blob's of its bytes, a tree node's of its
canonical encoding, a commit's of its canonical fields. Equal ids mean equal content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, NewType

from imagehub.core.errors import InvalidInput
from imagehub.core.hashing import canonical_json, content_id

BlobId = NewType("BlobId", str)
NodeId = NewType("NodeId", str)
CommitId = NewType("CommitId", str)

_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")


def is_full_id(value: str) -> bool:
    """Whether ``value`` is a whole content address (a commit's or a blob's), not a name."""
    return _HEX64.match(value) is not None


def validate_blob_id(value: str) -> BlobId:
    if not _HEX64.match(value):
        raise InvalidInput(f"invalid blob id {value!r}: expected 64 lowercase hex digits (SHA-256)")
    return BlobId(value)


class Entry(NamedTuple):
    """One manifest row: a dataset path and the content it names."""

    path: str
    blob: str
    size: int
    media_type: str = "application/octet-stream"
    summary: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


class Change(NamedTuple):
    """One row of a diff: ``left`` is None when added, ``right`` when removed."""

    path: str
    kind: ChangeKind
    left: Entry | None
    right: Entry | None

    @staticmethod
    def between(left: Entry | None, right: Entry | None) -> Change:
        """The change from ``left`` to ``right`` (one of them present) at their path."""
        if left is None:
            assert right is not None
            return Change(right.path, ChangeKind.ADDED, None, right)
        if right is None:
            return Change(left.path, ChangeKind.REMOVED, left, None)
        return Change(left.path, ChangeKind.MODIFIED, left, right)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.kind.value,
            "left": self.left.as_dict() if self.left else None,
            "right": self.right.as_dict() if self.right else None,
            "size_delta": (self.right.size if self.right else 0) - (self.left.size if self.left else 0),
        }


@dataclass(frozen=True)
class Commit:
    id: CommitId
    tree: NodeId
    parents: tuple[CommitId, ...]
    author: str
    message: str
    created_at: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    generation: int = 1

    @staticmethod
    def compute_id(
        *,
        tree: str,
        parents: tuple[str, ...],
        author: str,
        message: str,
        created_at: datetime,
        metadata: dict[str, str],
    ) -> CommitId:
        body = {
            "tree": tree,
            "parents": list(parents),
            "author": author,
            "message": message,
            "created_at": created_at.isoformat(),
            "metadata": metadata,
        }
        return CommitId(content_id(canonical_json(body)))

    def has_valid_id(self) -> bool:
        """Whether the id is still the hash of the commit's content (fsck's check)."""
        recomputed = Commit.compute_id(
            tree=self.tree,
            parents=self.parents,
            author=self.author,
            message=self.message,
            created_at=self.created_at,
            metadata=self.metadata,
        )
        return recomputed == self.id

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tree": self.tree,
            "parents": list(self.parents),
            "author": self.author,
            "message": self.message,
            "created_at": self.created_at.isoformat(),
            "metadata": self.metadata,
            "generation": self.generation,
        }
