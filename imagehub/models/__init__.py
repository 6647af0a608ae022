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
from imagehub.models.checks import CheckResult
from imagehub.models.dataset import Dataset
from imagehub.models.deid import DeidRun, ReidMap
from imagehub.models.holders import BlobHolder
from imagehub.models.imaging import CommitFile, ImagingFile, Materialization, SeriesRow
from imagehub.models.issues import Issue, IssueComment, IssueSeriesLink
from imagehub.models.proposals import Proposal
from imagehub.models.releases import Release
from imagehub.models.reviews import BranchRule, Review, ReviewComment
from imagehub.models.staging import StagedRow
from imagehub.models.stats import TreeStats
from imagehub.models.transport import UploadSession
from imagehub.models.vcs import BlobRow, CommitRow, NodeRow, RefRow
from imagehub.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "AccessRequest",
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Base",
    "BlobHolder",
    "BlobRow",
    "BranchRule",
    "CheckResult",
    "CommitFile",
    "CommitRow",
    "Dataset",
    "DatasetGrant",
    "DeidRun",
    "ImagingFile",
    "Issue",
    "IssueComment",
    "IssueSeriesLink",
    "LegalHold",
    "Materialization",
    "NodeRow",
    "Org",
    "OrgMember",
    "Proposal",
    "RefRow",
    "ReidMap",
    "Release",
    "Review",
    "ReviewComment",
    "SeriesRow",
    "StagedRow",
    "Team",
    "TeamMember",
    "TreeStats",
    "UploadSession",
    "User",
    "WebSession",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
