"""SQLAlchemy entities and their queries; every query takes the caller's session."""

from imagehub.models.accounts import (
    AccessRequest,
    ApiToken,
    DatasetGrant,
    Org,
    OrgMember,
    Team,
    TeamMember,
    User,
    WebSession,
)
from imagehub.models.audit import AuditEvent, AuditHead, LegalHold
from imagehub.models.base import Base
from imagehub.models.dataset import Dataset
from imagehub.models.transport import UploadSession
from imagehub.models.vcs import BlobRow, CommitRow, NodeRow, RefRow

__all__ = [
    "AccessRequest",
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Base",
    "BlobRow",
    "CommitRow",
    "Dataset",
    "DatasetGrant",
    "LegalHold",
    "NodeRow",
    "Org",
    "OrgMember",
    "RefRow",
    "Team",
    "TeamMember",
    "UploadSession",
    "User",
    "WebSession",
]
