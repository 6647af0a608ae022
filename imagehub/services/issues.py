"""Issues and annotation tasks on a dataset: QC findings, labelling work, their discussion.

An issue has a title, a markdown body, labels, at most one assignee (a user who can read
the dataset) and a state (open or closed). Comments make its thread; series links name
the series a finding is about, pinned to the commit they were seen at. Every action
lands in the audit trail; who may act is decided by the caller (the API's RBAC
dependency), as for every other dataset resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import Principal, Role
from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import Repository
from imagehub.models import issues as queries
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset, lock_dataset
from imagehub.models.issues import STATES, Issue, IssueComment, IssueSeriesLink
from imagehub.services import access, audit
from imagehub.services.accounts import get_user
from imagehub.services.browse import series_row

MAX_PAGE = 1000
MAX_LABELS = 20
MAX_LABEL_LENGTH = 50
MAX_TITLE = 255
MAX_BODY = 50_000
MAX_REF = 255
MAX_NOTE = 2_000
MAX_LINKS = 500  # series links on one issue
_LABEL = re.compile(r"[a-z0-9][a-z0-9 ._:/+-]*")


def _record(
    session: Session,
    dataset: Dataset,
    issue: Issue,
    actor: str,
    action: str,
    *,
    ref: str = "",
    commit: str = "",
    **details: object,
) -> None:
    """One audit event per action, naming the issue."""
    audit.record(
        session,
        actor=actor,
        action=f"issue.{action}",
        dataset=dataset.full_name,
        object=f"issue:{issue.number}",
        ref=ref,
        commit=commit,
        details=details,
    )


def normalise_labels(labels: Sequence[str]) -> list[str]:
    """Lower-case, trimmed, inner whitespace collapsed, de-duplicated in the order given.

    A label is 1-50 characters of ``a-z 0-9 space . _ : / + -`` starting with a letter or
    digit; an issue has at most ``MAX_LABELS``.
    """
    out: list[str] = []
    for raw in labels:
        label = " ".join(raw.lower().split())
        if not label:
            continue
        if len(label) > MAX_LABEL_LENGTH or not _LABEL.fullmatch(label):
            raise InvalidInput(
                f"label {raw!r}: use up to {MAX_LABEL_LENGTH} letters, digits, spaces and . _ : / + -, "
                "starting with a letter or digit"
            )
        if label not in out:
            out.append(label)
    if len(out) > MAX_LABELS:
        raise InvalidInput(f"an issue has at most {MAX_LABELS} labels")
    return out


def labels_of(issue: Issue) -> list[str]:
    found: list[str] = json.loads(issue.labels)
    return found


def _title(title: str) -> str:
    cleaned = title.strip()
    if not cleaned:
        raise InvalidInput("an issue needs a title")
    if len(cleaned) > MAX_TITLE:
        raise InvalidInput(f"a title has at most {MAX_TITLE} characters")
    return cleaned


def _text(text: str, what: str) -> str:
    if len(text) > MAX_BODY:
        raise InvalidInput(f"{what} has at most {MAX_BODY} characters")
    return text


def _assignee(session: Session, dataset: Dataset, username: str) -> str | None:
    """An empty name unassigns; anyone else must be an active user who can read the dataset."""
    name = username.strip()
    if not name:
        return None
    try:
        user = get_user(session, name)
    except NotFound:
        raise InvalidInput(f"assignee {name!r} is not a user") from None
    principal = Principal(user.id, user.username, user.is_admin)
    if not user.is_active or access.role_of(session, principal, dataset) < Role.READ:
        raise InvalidInput(f"assignee {name!r} cannot read {dataset.full_name}")
    return user.username


def create(
    session: Session,
    dataset: Dataset,
    *,
    actor: str,
    title: str,
    body: str = "",
    labels: Sequence[str] = (),
    assignee: str = "",
) -> Issue:
    """Open an issue, numbered next in the dataset."""
    cleaned = _title(title)
    normalised = normalise_labels(labels)
    assigned = _assignee(session, dataset, assignee)
    lock_dataset(session, dataset)  # two issues opened at once get different numbers
    now = utcnow()
    issue = Issue(
        dataset_id=dataset.id,
        number=queries.next_number(session, dataset.id),
        title=cleaned,
        body=_text(body, "a body"),
        labels=json.dumps(normalised),
        assignee=assigned,
        state="open",
        author=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(issue)
    session.flush()
    _record(session, dataset, issue, actor, "create", title=cleaned, labels=normalised, assignee=assigned)
    return issue


def list_issues(
    session: Session,
    dataset: Dataset,
    *,
    state: str = "open",
    label: str = "",
    assignee: str = "",
    text: str = "",
    after: int = 0,
    limit: int = 50,
) -> list[Issue]:
    """One page by number; ``state`` is open, closed or all; filters combine (AND)."""
    if state != "all" and state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join((*STATES, 'all'))}")
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    wanted = normalise_labels([label]) if label.strip() else []
    states = STATES if state == "all" else (state,)
    return queries.page(
        session,
        dataset.id,
        states=states,
        after=after,
        limit=limit,
        label=wanted[0] if wanted else "",
        assignee=assignee.strip(),
        text=text.strip(),
    )


def get(session: Session, dataset: Dataset, number: int) -> Issue:
    found = queries.by_number(session, dataset.id, number)
    if found is None:
        raise NotFound(f"no issue #{number} in {dataset.full_name}")
    return found


def update(
    session: Session,
    dataset: Dataset,
    number: int,
    *,
    actor: str,
    title: str | None = None,
    body: str | None = None,
    labels: Sequence[str] | None = None,
    assignee: str | None = None,
) -> Issue:
    """Edit what is given (None leaves a field alone; an empty assignee unassigns)."""
    issue = get(session, dataset, number)
    changed: dict[str, object] = {}
    if title is not None:
        issue.title = changed["title"] = _title(title)
    if body is not None:
        issue.body = _text(body, "a body")
        changed["body"] = True
    if labels is not None:
        normalised = normalise_labels(labels)
        issue.labels = json.dumps(normalised)
        changed["labels"] = normalised
    if assignee is not None and assignee != (issue.assignee or ""):  # a form sends it back unchanged
        issue.assignee = changed["assignee"] = _assignee(session, dataset, assignee)
    issue.updated_at = utcnow()
    _record(session, dataset, issue, actor, "update", changed=changed)
    return issue


def close(session: Session, dataset: Dataset, number: int, *, actor: str) -> Issue:
    issue = get(session, dataset, number)
    if issue.state != "open":
        raise Conflict(f"issue #{number} is already closed")
    now = utcnow()
    issue.state, issue.closed_by, issue.closed_at, issue.updated_at = "closed", actor, now, now
    _record(session, dataset, issue, actor, "close")
    return issue


def reopen(session: Session, dataset: Dataset, number: int, *, actor: str) -> Issue:
    issue = get(session, dataset, number)
    if issue.state != "closed":
        raise Conflict(f"issue #{number} is already open")
    issue.state, issue.closed_by, issue.closed_at, issue.updated_at = "open", None, None, utcnow()
    _record(session, dataset, issue, actor, "reopen")
    return issue


def comment(session: Session, dataset: Dataset, number: int, *, actor: str, body: str) -> IssueComment:
    """Add to the thread; open and closed issues both take comments."""
    issue = get(session, dataset, number)
    if not body.strip():
        raise InvalidInput("a comment cannot be empty")
    added = IssueComment(issue_id=issue.id, author=actor, body=_text(body, "a comment"), created_at=utcnow())
    session.add(added)
    issue.updated_at = added.created_at
    session.flush()
    _record(session, dataset, issue, actor, "comment", comment=added.id)
    return added


def list_comments(
    session: Session, dataset: Dataset, number: int, *, after: int = 0, limit: int = 100
) -> list[IssueComment]:
    """The thread oldest first; ``after`` is the last comment id of the previous page."""
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return queries.comments(session, get(session, dataset, number).id, after=after, limit=limit)


def list_links(session: Session, dataset: Dataset, number: int) -> list[IssueSeriesLink]:
    return queries.links(session, get(session, dataset, number).id, MAX_LINKS)


def link_series(
    session: Session,
    dataset: Dataset,
    repo: Repository,
    number: int,
    *,
    actor: str,
    ref: str,
    series_instance_uid: str,
    path: str = "",
    note: str = "",
) -> IssueSeriesLink:
    """Pin a series (and optionally one of its files) at the commit ``ref`` names now.

    The series must be known at that commit, which means the imaging pipeline has run for it.
    """
    issue = get(session, dataset, number)
    uid, path = series_instance_uid.strip(), path.strip()
    if ref != ref.strip():  # the access check judged the ref as sent: resolve exactly that
        raise InvalidInput(f"no branch, tag or commit named {ref!r}: remove the spaces around it")
    if not ref or len(ref) > MAX_REF:
        raise InvalidInput(f"name a branch, tag or commit (at most {MAX_REF} characters)")
    if not uid:
        raise InvalidInput("name the series (its SeriesInstanceUID)")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"a note has at most {MAX_NOTE} characters")
    try:
        commit = repo.resolve(ref)
    except NotFound:
        raise InvalidInput(f"no branch, tag or commit named {ref!r}") from None
    try:
        row = series_row(session, dataset.id, commit.id, uid)
    except NotFound as exc:
        raise InvalidInput(str(exc)) from None
    if path and path not in json.loads(row.members):
        raise InvalidInput(f"{path!r} is not a file of series {uid!r} at {commit.id[:12]}")
    duplicate = session.scalar(
        select(IssueSeriesLink.id).where(
            IssueSeriesLink.issue_id == issue.id,
            IssueSeriesLink.commit_id == commit.id,
            IssueSeriesLink.series_instance_uid == uid,
        )
    )
    if duplicate is not None:
        raise Conflict(f"issue #{number} already links series {uid!r} at {commit.id[:12]}")
    if queries.count_links(session, issue.id) >= MAX_LINKS:
        raise Conflict(f"issue #{number} already links {MAX_LINKS} series")
    link = IssueSeriesLink(
        issue_id=issue.id,
        ref=ref,
        commit_id=commit.id,
        series_instance_uid=uid,
        path=path or None,
        note=note,
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(link)
    issue.updated_at = link.created_at
    session.flush()
    _record(
        session, dataset, issue, actor, "link", ref=ref, commit=commit.id, link=link.id, series=uid, path=path
    )
    return link


def series_link(session: Session, dataset: Dataset, number: int, link_id: int) -> IssueSeriesLink:
    """One series link of issue ``number``."""
    issue = get(session, dataset, number)
    link = session.get(IssueSeriesLink, link_id)
    if link is None or link.issue_id != issue.id:
        raise NotFound(f"issue #{number} has no series link {link_id}")
    return link


def unlink_series(session: Session, dataset: Dataset, number: int, link_id: int, *, actor: str) -> None:
    link = series_link(session, dataset, number, link_id)
    issue = get(session, dataset, number)
    session.delete(link)
    issue.updated_at = utcnow()
    session.flush()
    _record(
        session,
        dataset,
        issue,
        actor,
        "unlink",
        ref=link.ref,
        commit=link.commit_id,
        link=link_id,
        series=link.series_instance_uid,
    )
