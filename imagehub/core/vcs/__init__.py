"""The Dataset Versioning Engine: content-addressed blobs, prolly-tree manifests,
commits, refs, diff and three-way merge (DECISIONS.md D2)."""

from imagehub.core.vcs.blobs import BlobBatch, BlobIndex, BlobMismatch, BlobStore, blob_key
from imagehub.core.vcs.changes import ChangeSet
from imagehub.core.vcs.merge import MergeConflict, MergeStrategy, PathConflict
from imagehub.core.vcs.refs import Ref, RefConflict, RefKind, validate_ref_name
from imagehub.core.vcs.repository import (
    BranchMoved,
    MissingBlobs,
    ProtectedBranch,
    Repository,
    Stores,
)
from imagehub.core.vcs.types import BlobId, Change, ChangeKind, Commit, CommitId, Entry, NodeId

__all__ = [
    "BlobBatch",
    "BlobId",
    "BlobIndex",
    "BlobMismatch",
    "BlobStore",
    "BranchMoved",
    "Change",
    "ChangeKind",
    "ChangeSet",
    "Commit",
    "CommitId",
    "Entry",
    "MergeConflict",
    "MergeStrategy",
    "MissingBlobs",
    "NodeId",
    "PathConflict",
    "ProtectedBranch",
    "Ref",
    "RefConflict",
    "RefKind",
    "Repository",
    "Stores",
    "blob_key",
    "validate_ref_name",
]
