"""Whether a change proposal may merge: required approvals and required checks together.

The proposal page shows the same answer the merge enforces, so a reviewer sees exactly
why the button is disabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.vcs import CommitId, PathConflict, RefKind, Repository
from imagehub.core.vcs.commits import merge_base
from imagehub.core.vcs.merge import conflict_paths
from imagehub.models.dataset import Dataset
from imagehub.models.proposals import Proposal
from imagehub.services import access, checks, forks, reviews
from imagehub.services.checks import Blocked, CheckState
from imagehub.services.deid_work import dataset_screening
from imagehub.services.reviews import Approvals


@dataclass(frozen=True)
class Readiness:
    head: str
    approvals: Approvals
    checks: list[CheckState]
    reasons: list[str]  # what keeps the merge from running at all
    blocking_checks: list[dict[str, str]]
    conflicts: list[PathConflict] = field(default_factory=list)  # what stops a ``fail`` merge

    @property
    def blockers(self) -> list[str]:
        """Every reason the merge would not go through as offered (``fail`` on conflict): a
        conflict is named here, though ``ours`` or ``theirs`` would settle it."""
        if not self.conflicts:
            return self.reasons
        named = f"{len(self.conflicts)} conflicting path(s): {conflict_paths(self.conflicts)}"
        return [*self.reasons, f"{named} (fix the source, or merge with ours or theirs)"]

    @property
    def ready(self) -> bool:
        return not self.blockers

    def as_dict(self) -> dict[str, object]:
        return {
            "head": self.head,
            "ready": self.ready,
            "reasons": self.blockers,
            "approvals": self.approvals.as_dict(),
            "checks": [c.as_dict() for c in self.checks],
        }


def readiness(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> Readiness:
    """Every reason the proposal cannot merge now; a settled one only says what it is, since
    its source branch may have moved on or gone."""
    rule = reviews.rule(session, dataset, proposal.target_branch)
    if proposal.state != "open":
        required = rule.required_approvals if rule else 0
        settled = f"proposal #{proposal.number} is {proposal.state}"
        return Readiness(proposal.merged_commit or "", Approvals(required, [], [], []), [], [settled], [])
    # The pipeline reports checks where the commit lives: a fork's proposal, on the fork.
    try:
        about = reviews.reviewed(session, dataset, repo, proposal)
    except (NotFound, InvalidInput) as gone:  # its branch, or the fork, is gone
        return Readiness("", Approvals(0, [], [], []), [], [f"the source is gone: {gone}"], [])
    head = about.commit
    approvals = reviews.approvals(session, dataset, repo, proposal)
    names = checks.required(dataset, proposal.target_branch, rule)
    found = checks.states(session, about.dataset, head, names)
    reasons, conflicts = _merge_reasons(session, dataset, repo, proposal, about.dataset, head)
    if len(approvals.approved_by) < approvals.required:
        reasons.append(
            f"{approvals.required} approval(s) on the current head required, "
            f"{len(approvals.approved_by)} given"
        )
    if approvals.changes_requested_by:
        reasons.append(f"changes requested by {', '.join(approvals.changes_requested_by)}")
    reasons += checks.blocking_reasons(about.dataset, head, found)
    if about.dataset.id != dataset.id:
        reasons += _fork_reasons(session, about.dataset, dataset, found)
    blocking = checks.blocking_dicts(about.dataset, head, found)
    return Readiness(head, approvals, found, reasons, blocking, conflicts)


def _merge_reasons(
    session: Session, dataset: Dataset, repo: Repository, proposal: Proposal, origin: Dataset, head: str
) -> tuple[list[str], list[PathConflict]]:
    """What the merge itself would refuse, beside approvals and checks, and the paths it
    would stop on (a dry run of it): so that "ready" means the button works."""
    target = proposal.target_branch
    try:
        target_head = repo.get_ref(target, RefKind.BRANCH).commit
    except NotFound:
        return [f"the target branch {target!r} no longer exists"], []
    reasons = []
    fork = origin if origin.id != dataset.id else None
    try:
        access.refuse_phi_flow(dataset, proposal.source_branch, target, source_dataset=fork)
    except access.Forbidden as refused:
        reasons.append(str(refused))
    if fork is None:
        if merge_base(repo.stores.commits, target_head, CommitId(head)) == head:
            return [*reasons, f"nothing to merge: {target!r} already holds the source's head"], []
        return reasons, repo.merge_conflicts(head, target)
    branch = forks.fork_branch(session, dataset, fork, proposal.source_branch, at=head)
    if branch.base.tree == branch.head.tree:
        return [*reasons, f"nothing to merge: {fork.full_name} is as it was derived or last merged"], []
    return reasons, forks.conflicts(repo, branch, target)


def _screening(dataset: Dataset) -> tuple[str, str]:
    """What decides whether a dataset's PHI gate passes: its de-identification policy and its
    PHI branches."""
    return dataset_screening(dataset), dataset.phi_branches


def _fork_reasons(session: Session, fork: Dataset, dataset: Dataset, found: list[CheckState]) -> list[str]:
    """A fork's checks count here only as far as this dataset would trust them: the pipeline's
    under this dataset's own screening, anyone else's if they may write here."""
    reasons = []
    if _screening(fork) != _screening(dataset):
        reasons.append(
            f"{fork.full_name} screens for PHI differently from {dataset.full_name} (de-identification "
            "policy or PHI branches): align the fork's settings for its checks to count here"
        )
    for state in found:
        outside = state.reported_by and state.reported_by != checks.PIPELINE_ACTOR
        if state.passed and outside and not access.user_may_write(session, state.reported_by, dataset):
            reasons.append(
                f"check {state.name} was reported by {state.reported_by}, "
                f"who may not write {dataset.full_name}"
            )
    return reasons


def require_ready(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> Readiness:
    """The readiness of a proposal that may merge; conflicts are left to the merge, which
    names each one in full, and which ``ours`` or ``theirs`` settles."""
    found = readiness(session, dataset, repo, proposal)
    if found.reasons:
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
    about the same data. Approvals come only with a proposal, so a destination that requires
    them takes no direct merge."""
    commit_id = repo.resolve(source).id
    rule = reviews.rule(session, dataset, destination)
    found = checks.states(session, dataset, commit_id, checks.required(dataset, destination, rule))
    reasons = checks.blocking_reasons(dataset, commit_id, found)
    if rule is not None and rule.required_approvals:
        needed = rule.required_approvals
        reasons.insert(0, f"merging into {destination!r} takes {needed} approval(s): open a change proposal")
    if reasons:
        raise Blocked(reasons, checks.blocking_dicts(dataset, commit_id, found))
    return commit_id
