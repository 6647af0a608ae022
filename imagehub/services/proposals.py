"""Change proposals: reviewed merges from one branch of a dataset into another.

A proposal is the sanctioned way into a protected branch: the engine refuses direct
commits to one, and the merge recorded here says who merged what and when. Raw (PHI)
data never flows into a branch that is not PHI-bearing through a proposal; that is what
de-identification is for. Every action lands in the audit trail.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import CommitId, MergeStrategy, RefKind, Repository
from imagehub.core.vcs.commits import CommitStore, merge_base
from imagehub.models import proposals as queries
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset, lock_dataset
from imagehub.models.proposals import STATES, Proposal
from imagehub.services import access, audit, forks, merge_gate, proposal_source, webhooks
from imagehub.services.accounts import get_user

SUMMARY_LIMIT = 1000  # commits counted and paths diffed, at most, for one summary
MAX_PAGE = 1000
_FROM_SOURCE, _FROM_TARGET = 1, 2


@dataclass(frozen=True)
class Summary:
    """What merging would bring: each count is capped at ``SUMMARY_LIMIT`` on its own, so a
    page can say which one is a lower bound."""

    ahead: int
    changed_files: int
    ahead_capped: bool = False
    files_capped: bool = False

    @property
    def truncated(self) -> bool:
        return self.ahead_capped or self.files_capped

    def as_dict(self) -> dict[str, object]:
        return {"ahead": self.ahead, "changed_files": self.changed_files, "truncated": self.truncated}


def _record(
    session: Session,
    dataset: Dataset,
    proposal: Proposal,
    actor: str,
    action: str,
    *,
    commit: str = "",
    **extra: object,
) -> None:
    """One audit event per action, naming the proposal, its target ref and both branches."""
    audit.record(
        session,
        actor=actor,
        action=f"proposal.{action}",
        dataset=dataset.full_name,
        object=f"proposal:{proposal.number}",
        ref=proposal.target_branch,
        commit=commit,
        details={"source": proposal.source_branch, "target": proposal.target_branch, **extra},
    )


def _head(repo: Repository, branch: str) -> CommitId:
    """The branch's commit; a missing branch is a bad request, not a missing proposal."""
    try:
        return repo.get_ref(branch, RefKind.BRANCH).commit
    except NotFound:
        raise InvalidInput(f"no branch {branch!r} in this dataset") from None


def _reviewers(session: Session, names: Sequence[str]) -> str:
    for name in names:
        try:
            get_user(session, name)
        except NotFound:
            raise InvalidInput(f"reviewer {name!r} is not a user") from None
    return json.dumps(sorted(set(names)))


def _open_duplicate(
    session: Session, dataset: Dataset, source_dataset: Dataset | None, source: str, target: str
) -> Proposal | None:
    return session.scalar(
        select(Proposal).where(
            Proposal.dataset_id == dataset.id,
            Proposal.state == "open",
            Proposal.source_dataset_id == (source_dataset.id if source_dataset else None),
            Proposal.source_branch == source,
            Proposal.target_branch == target,
        )
    )


def _fork_of(dataset: Dataset, source_dataset: Dataset | None) -> Dataset | None:
    """The fork a proposal comes from; None when the source branch is in the dataset itself."""
    return source_dataset if source_dataset is not None and source_dataset.id != dataset.id else None


def _check_branches(
    session: Session,
    dataset: Dataset,
    repo: Repository,
    source: str,
    target: str,
    fork: Dataset | None = None,
) -> None:
    """Both branches exist and differ, the flow is allowed, and the source brings something new."""
    target_head = _head(repo, target)
    if fork is None:
        if source == target:
            raise InvalidInput("source and target must be different branches")
        source_head = _head(repo, source)
        access.refuse_phi_flow(dataset, source, target)
        if merge_base(repo.stores.commits, target_head, source_head) == source_head:
            raise InvalidInput(f"{target!r} already contains {source!r}: nothing to propose")
    else:
        found = forks.fork_branch(session, dataset, fork, source)
        access.refuse_phi_flow(dataset, source, target, source_dataset=fork)
        if found.head.tree == found.base.tree:
            raise InvalidInput(
                f"{found.label} has not changed since it was derived or since its last merged proposal: "
                "nothing to propose"
            )
    duplicate = _open_duplicate(session, dataset, fork, source, target)
    if duplicate is not None:
        raise Conflict(f"proposal #{duplicate.number} already proposes {source!r} into {target!r}")


def create(
    session: Session,
    dataset: Dataset,
    repo: Repository,
    *,
    actor: str,
    source: str,
    target: str,
    title: str,
    description: str = "",
    reviewers: Sequence[str] = (),
    source_dataset: Dataset | None = None,
) -> Proposal:
    """Open a proposal to merge ``source`` into ``target``, numbered next in the dataset;
    ``source`` is a branch of ``source_dataset`` when that is a dataset derived from this one."""
    if not title.strip():
        raise InvalidInput("a proposal needs a title")
    fork = _fork_of(dataset, source_dataset)
    lock_dataset(session, dataset)  # two proposals opened at once: numbered apart, or one a duplicate
    _check_branches(session, dataset, repo, source, target, fork)
    now = utcnow()
    proposal = Proposal(
        dataset_id=dataset.id,
        number=queries.next_number(session, dataset.id),
        title=title.strip(),
        description=description,
        source_dataset_id=fork.id if fork else None,
        source_branch=source,
        target_branch=target,
        author=actor,
        state="open",
        reviewers=_reviewers(session, reviewers),
        created_at=now,
        updated_at=now,
    )
    session.add(proposal)
    session.flush()
    _record(session, dataset, proposal, actor, "create", title=proposal.title)
    webhooks.emit(
        session,
        dataset,
        "proposal.opened",
        {
            "number": proposal.number,
            "title": proposal.title,
            "source": source,
            "source_dataset": fork.full_name if fork else None,
            "target": target,
            "author": actor,
            "reviewers": json.loads(proposal.reviewers),
        },
    )
    return proposal


def list_proposals(
    session: Session, dataset: Dataset, *, state: str = "open", after: int = 0, limit: int = 50
) -> list[Proposal]:
    """One page by number; ``state`` is open, merged, closed or all."""
    if state != "all" and state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join((*STATES, 'all'))}")
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    states = STATES if state == "all" else (state,)
    return queries.page(session, dataset.id, states=states, after=after, limit=limit)


def get(session: Session, dataset: Dataset, number: int) -> Proposal:
    found = queries.by_number(session, dataset.id, number)
    if found is None:
        raise NotFound(f"no proposal #{number} in {dataset.full_name}")
    return found


def _open(session: Session, dataset: Dataset, number: int, doing: str) -> Proposal:
    proposal = get(session, dataset, number)
    if proposal.state != "open":
        raise Conflict(f"proposal #{number} is {proposal.state}: only open proposals can be {doing}")
    return proposal


def update(
    session: Session,
    dataset: Dataset,
    number: int,
    *,
    actor: str,
    title: str | None = None,
    description: str | None = None,
    reviewers: Sequence[str] | None = None,
) -> Proposal:
    """Edit the text or the reviewers of an open proposal; the branches stay as proposed."""
    proposal = _open(session, dataset, number, "edited")
    changed: dict[str, object] = {}
    if title is not None:
        if not title.strip():
            raise InvalidInput("a proposal needs a title")
        proposal.title = changed["title"] = title.strip()
    if description is not None:
        proposal.description = description
        changed["description"] = True
    if reviewers is not None:
        proposal.reviewers = _reviewers(session, reviewers)
        changed["reviewers"] = json.loads(proposal.reviewers)
    proposal.updated_at = utcnow()
    _record(session, dataset, proposal, actor, "update", changed=changed)
    return proposal


def close(session: Session, dataset: Dataset, number: int, *, actor: str) -> Proposal:
    proposal = _open(session, dataset, number, "closed")
    proposal.state, proposal.closed_by, proposal.updated_at = "closed", actor, utcnow()
    _record(session, dataset, proposal, actor, "close")
    return proposal


def reopen(session: Session, dataset: Dataset, repo: Repository, number: int, *, actor: str) -> Proposal:
    """A closed proposal opens again if its branches still make a valid proposal."""
    proposal = get(session, dataset, number)
    if proposal.state != "closed":
        raise Conflict(f"proposal #{number} is {proposal.state}: only closed proposals can be reopened")
    source = proposal_source.of(session, dataset, repo, proposal)
    fork = source.fork
    lock_dataset(session, dataset)  # a proposal opened meanwhile is seen as a duplicate
    _check_branches(session, dataset, repo, proposal.source_branch, proposal.target_branch, fork)
    proposal.state, proposal.closed_by, proposal.updated_at = "open", None, utcnow()
    _record(session, dataset, proposal, actor, "reopen")
    return proposal


def merge(
    session: Session,
    dataset: Dataset,
    repo: Repository,
    number: int,
    *,
    actor: str,
    strategy: MergeStrategy = MergeStrategy.FAIL,
    message: str = "",
) -> Proposal:
    """Merge an open proposal; a conflict under ``fail`` raises the engine's MergeConflict,
    missing approvals or checks raise ``checks.Blocked``.

    The PHI rule is checked again here: the dataset's PHI branches may have changed since
    the proposal was opened.
    """
    proposal = _open(session, dataset, number, "merged")
    source = proposal_source.of(session, dataset, repo, proposal)
    fork = source.fork
    access.refuse_phi_flow(dataset, proposal.source_branch, proposal.target_branch, source_dataset=fork)
    # Merge the very commit that was approved and checked, even if the branch moves meanwhile.
    head = merge_gate.require_ready(session, dataset, repo, proposal).head
    text = message or f"Merge proposal #{number}: {proposal.title}"
    metadata = {"proposal": str(number)}
    if fork is not None:
        checked = forks.fork_branch(session, dataset, fork, source.branch, at=head)
        merged = forks.merge(
            repo,
            checked,
            proposal.target_branch,
            author=actor,
            message=text,
            strategy=strategy,
            metadata=metadata,
        )
    else:
        merged = repo.merge(
            head,
            proposal.target_branch,
            author=actor,
            message=text,
            strategy=strategy,
            metadata=metadata,
            through_proposal=True,
        )
    proposal.state, proposal.merged_commit, proposal.merged_by = "merged", merged.id, actor
    proposal.updated_at = utcnow()
    _record(session, dataset, proposal, actor, "merge", commit=merged.id, strategy=strategy.value)
    webhooks.emit(
        session,
        dataset,
        "proposal.merged",
        {
            "number": number,
            "title": proposal.title,
            "source": proposal.source_branch,
            "source_dataset": fork.full_name if fork else None,
            "target": proposal.target_branch,
            "author": proposal.author,
            "merged_by": actor,
            "merged_commit": merged.id,
            "source_commit": head,
        },
    )
    return proposal


def summary(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> Summary | None:
    """Commits ahead and files changed for an open proposal (None once it is settled)."""
    if proposal.state != "open":
        return None
    try:
        source = proposal_source.of(session, dataset, repo, proposal)
        head = source.head()
        target = repo.get_ref(proposal.target_branch, RefKind.BRANCH).commit
    except (NotFound, InvalidInput):
        return None  # a branch (or the fork) was deleted since: nothing to summarise
    if source.forked:
        found = forks.fork_branch(session, dataset, source.dataset, source.branch, at=head)
        ahead, ahead_capped = _ahead(source.repo.stores.commits, head, found.base.id, SUMMARY_LIMIT)
        changes = source.repo.diff(found.base.id, head, limit=SUMMARY_LIMIT + 1)
    else:
        ahead, ahead_capped = _ahead(repo.stores.commits, head, target, SUMMARY_LIMIT)
        base = merge_base(repo.stores.commits, target, head) or target
        changes = repo.diff(base, head, limit=SUMMARY_LIMIT + 1)
    return Summary(ahead, min(len(changes), SUMMARY_LIMIT), ahead_capped, len(changes) > SUMMARY_LIMIT)


def _ahead(store: CommitStore, source: CommitId, target: CommitId, bound: int) -> tuple[int, bool]:
    """Commits reachable from ``source`` but not from ``target`` (``target..source``), capped.

    Commits are visited newest generation first, so a commit's marks are complete when it
    is popped; the walk stops once nothing left in the queue is reachable from the source only.
    """
    marks = {source: _FROM_SOURCE, target: _FROM_TARGET}
    if source == target:
        return 0, False
    commits = store.get_many([source, target])
    heap = [(-commits[c].generation, c) for c in (source, target)]
    heapq.heapify(heap)
    done: set[CommitId] = set()
    count = 0
    while any(marks[c] == _FROM_SOURCE for _, c in heap):
        _, commit_id = heapq.heappop(heap)
        if commit_id in done:
            continue
        done.add(commit_id)
        if marks[commit_id] == _FROM_SOURCE:
            count += 1
            if count > bound:  # one past the bound: exactly ``bound`` is a true count
                return bound, True
        parents = commits[commit_id].parents
        commits.update(store.get_many([p for p in parents if p not in commits]))
        for parent in parents:
            marks[parent] = marks.get(parent, 0) | marks[commit_id]
            heapq.heappush(heap, (-commits[parent].generation, parent))
    return count, False
