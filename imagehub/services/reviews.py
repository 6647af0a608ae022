"""Reviews of change proposals: verdicts, comments (also pinned to image points) and the
approvals a protected branch requires.

A verdict is given on the source head of its time. Approvals count only for the current
head: pushing new data after an approval makes it stale, because nobody has looked at
the new data. A reviewer's latest "request changes" blocks the merge until the same
reviewer approves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import Repository
from imagehub.models import reviews as queries
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset
from imagehub.models.imaging import SeriesRow
from imagehub.models.proposals import Proposal
from imagehub.models.reviews import VERDICTS, BranchRule, Review, ReviewComment
from imagehub.services import access, audit, checks, proposal_source
from imagehub.services.access import Forbidden

MAX_BODY = 20_000
MAX_APPROVALS = 20


@dataclass(frozen=True)
class Location:
    """A point of an image: the series (its key in the imaging index), a 0-based slice, and
    the pixel column (x) and row (y)."""

    series_key: str
    slice_index: int
    x: float
    y: float


@dataclass(frozen=True)
class Approvals:
    required: int
    approved_by: list[str]  # on the current source head
    stale: list[str]  # approved an older head
    changes_requested_by: list[str]

    @property
    def satisfied(self) -> bool:
        return len(self.approved_by) >= self.required and not self.changes_requested_by

    def as_dict(self) -> dict[str, object]:
        return {
            "required": self.required,
            "approved_by": self.approved_by,
            "stale": self.stale,
            "changes_requested_by": self.changes_requested_by,
            "satisfied": self.satisfied,
        }


@dataclass(frozen=True)
class Reviewed:
    """What a review is about: the merged commit once merged, else the source branch's head,
    with the dataset and repository that hold it (a fork's, for a fork's proposal)."""

    dataset: Dataset
    repo: Repository
    commit: str


def reviewed(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> Reviewed:
    if proposal.merged_commit:
        return Reviewed(dataset, repo, proposal.merged_commit)
    source = proposal_source.of(session, dataset, repo, proposal)
    return Reviewed(source.dataset, source.repo, source.head())


def source_head(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> str:
    return reviewed(session, dataset, repo, proposal).commit


def _body(text: str, *, required: bool) -> str:
    if required and not text.strip():
        raise InvalidInput("a comment needs some text")
    if len(text) > MAX_BODY:
        raise InvalidInput(f"text is limited to {MAX_BODY} characters")
    return text.strip()


def _record(
    session: Session, dataset: Dataset, proposal: Proposal, actor: str, action: str, **extra: object
) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"proposal.{action}",
        dataset=dataset.full_name,
        object=f"proposal:{proposal.number}",
        ref=proposal.target_branch,
        details=dict(extra),
    )


def submit(
    session: Session,
    dataset: Dataset,
    repo: Repository,
    proposal: Proposal,
    *,
    actor: str,
    verdict: str,
    body: str = "",
) -> Review:
    """A verdict on the current source head; authors do not approve their own proposals."""
    if verdict not in VERDICTS:
        raise InvalidInput(f"verdict must be one of {', '.join(VERDICTS)}")
    if proposal.state != "open":
        raise Conflict(f"proposal #{proposal.number} is {proposal.state}: reviews go on open proposals")
    if verdict != "comment" and actor == proposal.author:
        raise Forbidden("authors cannot approve or request changes on their own proposal")
    text = _body(body, required=verdict == "comment")
    review = Review(
        proposal_id=proposal.id,
        reviewer=actor,
        verdict=verdict,
        body=text,
        commit_id=source_head(session, dataset, repo, proposal),
        created_at=utcnow(),
    )
    session.add(review)
    session.flush()
    _record(session, dataset, proposal, actor, "review", verdict=verdict, commit=review.commit_id)
    return review


def _series_at(session: Session, dataset: Dataset, commit_id: str, location: Location) -> None:
    row = session.get(SeriesRow, (dataset.id, commit_id, location.series_key))
    if row is None:
        raise InvalidInput(
            f"no series {location.series_key!r} at {commit_id[:12]} (has the pipeline indexed it yet?)"
        )
    if not (math.isfinite(location.x) and math.isfinite(location.y)):
        raise InvalidInput("x and y must be pixel positions, not infinity or nan")
    if location.slice_index < 0 or location.x < 0 or location.y < 0:
        raise InvalidInput("slice, x and y must not be negative")
    if row.kind == "dicom" and location.slice_index >= row.instances:
        raise InvalidInput(
            f"slice {location.slice_index} is out of range: the series has {row.instances} image(s), "
            "numbered from 0"
        )


def comment(
    session: Session,
    dataset: Dataset,
    repo: Repository,
    proposal: Proposal,
    *,
    actor: str,
    body: str,
    path: str | None = None,
    location: Location | None = None,
) -> ReviewComment:
    """A comment on the proposal, on one file of its source head, or at an image point."""
    if path is not None and location is not None:
        raise InvalidInput("a comment is on a file or at an image point, not both")
    about = reviewed(session, dataset, repo, proposal)
    head = about.commit
    if path is not None:
        try:
            about.repo.stat(head, path)
        except NotFound:
            raise InvalidInput(f"no file {path!r} at {head[:12]}") from None
    if location is not None:
        _series_at(session, about.dataset, head, location)
    note = ReviewComment(
        proposal_id=proposal.id,
        author=actor,
        body=_body(body, required=True),
        commit_id=head,
        path=path,
        series_key=location.series_key if location else None,
        slice_index=location.slice_index if location else None,
        x=location.x if location else None,
        y=location.y if location else None,
        created_at=utcnow(),
    )
    session.add(note)
    session.flush()
    where = "image" if location else "file" if path else "proposal"
    _record(session, dataset, proposal, actor, "comment", comment=note.id, on=where)
    return note


def reviews(session: Session, proposal: Proposal) -> list[Review]:
    return queries.reviews_of(session, proposal.id)


def comments(
    session: Session, proposal: Proposal, *, after: int = 0, limit: int = 500
) -> list[ReviewComment]:
    if not 0 < limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    return queries.comments_of(session, proposal.id, after=after, limit=limit)


def pinned(session: Session, proposal: Proposal, series_key: str) -> list[ReviewComment]:
    return queries.pinned_in_series(session, proposal.id, series_key)


def approvals(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> Approvals:
    """Where the proposal stands against the target branch's required approvals."""
    rule = queries.rule_for(session, dataset.id, proposal.target_branch)
    head = source_head(session, dataset, repo, proposal)
    latest: dict[str, Review] = {}
    for review in reviews(session, proposal):
        if review.verdict != "comment":
            latest[review.reviewer] = review
    for reviewer in [r for r in latest if not access.user_may_write(session, r, dataset)]:
        del latest[reviewer]  # a reviewer who lost write access no longer counts, either way
    approved = sorted(r for r, v in latest.items() if v.verdict == "approve" and v.commit_id == head)
    stale = sorted(r for r, v in latest.items() if v.verdict == "approve" and v.commit_id != head)
    blocked = sorted(r for r, v in latest.items() if v.verdict == "request_changes")
    return Approvals(rule.required_approvals if rule else 0, approved, stale, blocked)


def rule(session: Session, dataset: Dataset, branch: str) -> BranchRule | None:
    return queries.rule_for(session, dataset.id, branch)


def rule_dict(found: BranchRule | None) -> dict[str, object]:
    if found is None:
        return {"required_approvals": 0, "required_checks": []}
    return {
        "required_approvals": found.required_approvals,
        "required_checks": json.loads(found.required_checks),
    }


def set_rule(
    session: Session,
    dataset: Dataset,
    branch: str,
    *,
    actor: str,
    required_approvals: int | None = None,
    required_checks: Sequence[str] | None = None,
) -> BranchRule:
    """Set what merging into ``branch`` takes; fields left out keep their value."""
    found = queries.rule_for(session, dataset.id, branch)
    if found is None:
        found = BranchRule(dataset_id=dataset.id, branch=branch, required_approvals=0, required_checks="[]")
        session.add(found)
    if required_approvals is not None:
        if not 0 <= required_approvals <= MAX_APPROVALS:
            raise InvalidInput(f"required approvals must be between 0 and {MAX_APPROVALS}")
        found.required_approvals = required_approvals
    if required_checks is not None:
        names = sorted({checks.check_name(c.strip()) for c in required_checks if c.strip()})
        found.required_checks = json.dumps(names)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="branch.rule",
        dataset=dataset.full_name,
        ref=branch,
        details=rule_dict(found),
    )
    return found


def authors_of(session: Session, proposal: Proposal) -> list[str]:
    """Everyone who reviewed or commented, for the page's participant list."""
    reviewers = session.scalars(select(Review.reviewer).where(Review.proposal_id == proposal.id))
    writers = session.scalars(select(ReviewComment.author).where(ReviewComment.proposal_id == proposal.id))
    return sorted({*reviewers, *writers})
