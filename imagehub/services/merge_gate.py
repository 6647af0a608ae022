"""Whether a change proposal may merge: required approvals and required checks together.

The proposal page shows the same answer the merge enforces, so a reviewer sees exactly
why the button is disabled.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from imagehub.core.vcs import Repository
from imagehub.models.dataset import Dataset
from imagehub.models.proposals import Proposal
from imagehub.services import checks, reviews
from imagehub.services.checks import Blocked, CheckState
from imagehub.services.reviews import Approvals


@dataclass(frozen=True)
class Readiness:
    head: str
    approvals: Approvals
    checks: list[CheckState]
    reasons: list[str]
    blocking_checks: list[dict[str, str]]

    @property
    def ready(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, object]:
        return {
            "head": self.head,
            "ready": self.ready,
            "reasons": self.reasons,
            "approvals": self.approvals.as_dict(),
            "checks": [c.as_dict() for c in self.checks],
        }


def readiness(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> Readiness:
    head = reviews.source_head(repo, proposal)
    approvals = reviews.approvals(session, dataset, repo, proposal)
    names = checks.required(
        dataset, proposal.target_branch, reviews.rule(session, dataset, proposal.target_branch)
    )
    found = checks.states(session, dataset, head, names)
    reasons = []
    if len(approvals.approved_by) < approvals.required:
        reasons.append(
            f"{approvals.required} approval(s) on the current head required, "
            f"{len(approvals.approved_by)} given"
        )
    if approvals.changes_requested_by:
        reasons.append(f"changes requested by {', '.join(approvals.changes_requested_by)}")
    reasons += checks.blocking_reasons(dataset, head, found)
    return Readiness(head, approvals, found, reasons, checks.blocking_dicts(dataset, head, found))


def require_ready(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> Readiness:
    found = readiness(session, dataset, repo, proposal)
    if not found.ready:
        raise Blocked(
            [f"proposal #{proposal.number} cannot merge yet: " + found.reasons[0], *found.reasons[1:]],
            found.blocking_checks,
        )
    return found


def checked_source(
    session: Session, dataset: Dataset, repo: Repository, source: str, destination: str
) -> str:
    """The commit a direct (proposal-less) merge takes from ``source``, once the checks the
    destination requires have passed on it; merging that id keeps the check and the merge
    about the same data."""
    commit_id = repo.resolve(source).id
    names = checks.required(dataset, destination, reviews.rule(session, dataset, destination))
    checks.require_passed(session, dataset, commit_id, names)
    return commit_id
