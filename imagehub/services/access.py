"""Dataset access: roles, grants, visibility, PHI branches and access requests.

``decide`` is the one question every route asks, through the API's single
enforcement dependency; everything that changes the answer is audited here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import (
    DatasetFacts,
    Principal,
    Role,
    effective_role,
    is_phi_branch,
    may_read_phi,
)
from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import CommitId, RefKind
from imagehub.core.vcs.commits import in_history_of
from imagehub.core.vcs.types import is_full_id
from imagehub.models import accounts as account_queries
from imagehub.models.accounts import AccessRequest, DatasetGrant, Team
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset, derived_from, lock_dataset, source_of
from imagehub.services import audit, datasets
from imagehub.services.accounts import get_team, get_user


class AccessDenied(NotFound):
    """Not visible to the caller: reported exactly like a dataset that does not exist."""


class Forbidden(Conflict):
    """Visible, but the caller's role does not allow this."""


class PurposeRequired(InvalidInput):
    """Raw (PHI) data is opened only with a stated purpose of use."""


def facts(dataset: Dataset) -> DatasetFacts:
    return DatasetFacts(
        id=dataset.id,
        owner=dataset.owner,
        visibility=dataset.visibility,
        phi_branches=tuple(json.loads(dataset.phi_branches)),
        phi_role=Role.parse(dataset.phi_role),
    )


def role_of(session: Session, principal: Principal, dataset: Dataset) -> Role:
    granted: list[Role] = []
    owns = False
    if principal.user_id is not None:
        teams = account_queries.team_ids_of(session, principal.user_id)
        clauses = [DatasetGrant.user_id == principal.user_id]
        if teams:
            clauses.append(DatasetGrant.team_id.in_(teams))
        rows = session.scalars(
            select(DatasetGrant.role).where(DatasetGrant.dataset_id == dataset.id, or_(*clauses))
        )
        granted = [Role.parse(r) for r in rows]
        owns = dataset.owner == principal.username or dataset.owner in account_queries.owned_org_names(
            session, principal.user_id
        )
    return effective_role(principal, facts(dataset), granted=granted, owns_namespace=owns)


@dataclass(frozen=True)
class Decision:
    dataset: Dataset
    role: Role
    phi_refs: tuple[str, ...]  # the PHI-bearing refs this request opens


def decide(
    session: Session,
    principal: Principal,
    *,
    owner: str,
    name: str,
    need: Role,
    refs: list[str],
    purpose: str,
    new_branches: Sequence[str] = (),
) -> Decision:
    """Allow or refuse one request on a dataset; raises AccessDenied / Forbidden / PurposeRequired.
    ``new_branches`` are branches the request makes: one named as a PHI branch is judged as
    one (its role and purpose), so that whoever makes it may also delete it."""
    try:
        dataset = datasets.get(session, owner=owner, name=name)
    except NotFound:
        raise AccessDenied(f"dataset {owner}/{name} not found") from None
    role = role_of(session, principal, dataset)
    if role < Role.READ:
        raise AccessDenied(f"dataset {owner}/{name} not found")
    if role < need:
        raise Forbidden(
            f"{need.name.lower()} access to {owner}/{name} is needed; you have {role.name.lower()}"
            + _token_caps(session, principal, dataset, need)
        )
    phi = tuple(r for r in refs if opens_phi(session, dataset, r))
    phi += tuple(b for b in new_branches if is_phi_branch(facts(dataset), b))
    if phi:
        if principal.anonymous or not may_read_phi(facts(dataset), role):  # its audit names a person
            raise Forbidden(
                f"{', '.join(phi)} holds raw (PHI) data; it needs the {dataset.phi_role} role"
                + _token_caps(session, principal, dataset, Role.parse(dataset.phi_role))
            )
        if not purpose.strip():
            raise PurposeRequired("raw (PHI) data: state a purpose of use (header X-Purpose-Of-Use)")
    return Decision(dataset, role, phi)


def _token_caps(session: Session, principal: Principal, dataset: Dataset, need: Role) -> str:
    """When the person holds the role but their API token's scope holds them below it, say
    so: a newcomer's first token (read, by default) is the usual reason."""
    if principal.token_scope is None or principal.token_scope >= need:
        return ""
    if role_of(session, replace(principal, token_scope=None), dataset) < need:
        return ""
    scope, wanted = principal.token_scope.name.lower(), need.name.lower()
    return f" (you hold it, but this API token's scope, {scope}, caps it: use a token of scope {wanted})"


def refuse_phi_flow(
    dataset: Dataset, source: str, target: str, *, source_dataset: Dataset | None = None
) -> None:
    """Raw data reaches a de-identified branch only through de-identification, never a merge;
    ``source`` is a branch of ``source_dataset`` (a fork) when given, else of ``dataset``."""
    origin = source_dataset or dataset
    if is_phi_branch(facts(origin), source) and not is_phi_branch(facts(dataset), target):
        named = f"{origin.full_name}:{source}" if source_dataset else source
        raise Forbidden(
            f"{named!r} holds raw (PHI) data and {target!r} does not: "
            "de-identify the data instead of merging it"
        )


def refuse_phi_copy(session: Session, dataset: Dataset, source: str, branch: str | None = None) -> None:
    """Raw data leaves the PHI branches through de-identification only: a new branch that is
    not PHI-bearing (or, with no ``branch``, a derived dataset) may not start from a commit
    that only PHI branches hold. Judged by commit, so branching from a PHI branch that still
    sits on shared history is fine."""
    if branch is not None and is_phi_branch(facts(dataset), branch):
        return
    try:
        commit = datasets.repository(session, dataset).resolve(source).id
    except (NotFound, InvalidInput):
        return  # the engine answers 404/422 itself
    if opens_phi(session, dataset, commit):
        into = f"branch {branch!r}" if branch is not None else "a derived dataset"
        raise Forbidden(
            f"{source!r} holds raw (PHI) data that {into} would take outside the PHI branches: "
            "de-identify the data instead"
        )


def opens_phi(session: Session, dataset: Dataset, expression: str) -> bool:
    """Whether a ref expression reaches data only the PHI branches hold.

    A branch is judged by name; any other ref (tag, commit id, ``~n``) is safe only if it
    is already in the history of a branch that is not PHI-bearing. A name that is a whole
    commit id names that commit first (as the engine resolves it), even where an older
    branch bears the same name.
    """
    dataset_facts = facts(dataset)
    if not dataset_facts.phi_branches:
        return False
    repo = datasets.repository(session, dataset)
    base = expression.split("~")[0].split("^")[0]
    branch = None if is_full_id(base) else repo.stores.refs.get(base, RefKind.BRANCH)
    if branch is not None and base == expression:
        return is_phi_branch(dataset_facts, base)
    try:
        target = repo.resolve(expression).id
    except (NotFound, InvalidInput):
        return False  # the route will answer 404/422 itself; nothing is opened
    safe_heads = [
        CommitId(ref.commit)
        for ref in repo.list_refs(RefKind.BRANCH, limit=10_000)
        if not is_phi_branch(dataset_facts, ref.name)
    ]
    return not in_history_of(repo.stores.commits, safe_heads, CommitId(target))


# -- changing who has access -----------------------------------------------------------------
def _grantee(session: Session, username: str, team: str) -> tuple[dict[str, int], str]:
    """The grant columns naming a user or an 'org/team', and how the audit trail names it."""
    if bool(username) == bool(team):
        raise InvalidInput("name exactly one of a user or a team ('org/team')")
    if username:
        return {"user_id": get_user(session, username).id}, f"user:{username}"
    org, _, team_name = team.partition("/")
    return {"team_id": get_team(session, org=org, name=team_name).id}, f"team:{team}"


def grant(
    session: Session, *, dataset: Dataset, role: str, actor: str, username: str = "", team: str = ""
) -> DatasetGrant:
    parsed = Role.parse(role)
    subject, label = _grantee(session, username, team)
    existing = session.scalar(
        select(DatasetGrant).where(DatasetGrant.dataset_id == dataset.id).filter_by(**subject)
    )
    if existing is None:
        existing = DatasetGrant(dataset_id=dataset.id, role=parsed.name.lower(), granted_by=actor, **subject)
        session.add(existing)
    existing.role = parsed.name.lower()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="permission.grant",
        dataset=dataset.full_name,
        object=label,
        details={"role": existing.role},
    )
    return existing


def revoke(session: Session, *, dataset: Dataset, actor: str, username: str = "", team: str = "") -> None:
    subject, label = _grantee(session, username, team)
    found = session.scalar(
        select(DatasetGrant).where(DatasetGrant.dataset_id == dataset.id).filter_by(**subject)
    )
    if found is None:
        raise NotFound("no such grant")
    session.delete(found)
    audit.record(
        session,
        actor=actor,
        action="permission.revoke",
        dataset=dataset.full_name,
        object=label,
    )


def list_grants(session: Session, dataset: Dataset) -> list[dict[str, object]]:
    """Each grant, a team named ``org/team`` as grants and revocations name it."""
    rows = session.execute(
        select(DatasetGrant, Team.name, account_queries.Org.name)
        .outerjoin(Team, Team.id == DatasetGrant.team_id)
        .outerjoin(account_queries.Org, account_queries.Org.id == Team.org_id)
        .where(DatasetGrant.dataset_id == dataset.id)
        .order_by(DatasetGrant.id)
    )
    out: list[dict[str, object]] = []
    for grant_row, team_name, org_name in rows:
        user = session.get(account_queries.User, grant_row.user_id) if grant_row.user_id else None
        team = f"{org_name}/{team_name}" if team_name else None
        out.append({"user": user.username if user else None, "team": team, "role": grant_row.role})
    return out


def _wider(visibility: str, than: str) -> bool:
    order = datasets.VISIBILITIES
    return order.index(visibility) > order.index(than)


def _refuse_wider_than_source(dataset: Dataset, source: Dataset | None, visibility: str) -> None:
    """A derived dataset shows its source's data: it may be no more visible than the source
    is now, or a reader of a private dataset could publish it with two clicks."""
    if source is not None and _wider(visibility, source.visibility):
        raise Forbidden(
            f"{dataset.full_name} was derived from {source.visibility} {source.full_name}: "
            f"it may be at most {source.visibility}"
        )


def _narrow_to(session: Session, dataset: Dataset, source: Dataset, actor: str) -> None:
    """``dataset``, derived from ``source``, shares its data: it is no more visible than the
    source, and neither is anything derived from it, deleted or not, whoever owns it. The
    data's owner can always restrict it."""
    if _wider(dataset.visibility, source.visibility):
        dataset.visibility = source.visibility
        audit.record(
            session,
            actor=actor,
            action="permission.settings",
            dataset=dataset.full_name,
            details={"visibility": source.visibility, "narrowed_with": source.full_name},
        )
    for derived in derived_from(session, dataset):
        _narrow_to(session, derived, dataset, actor)


def follow_source(session: Session, dataset: Dataset, actor: str) -> None:
    """A dataset restored after its source became less visible becomes so too."""
    if (source := source_of(session, dataset)) is not None:
        _narrow_to(session, dataset, source, actor)


def update_settings(
    session: Session,
    *,
    dataset: Dataset,
    actor: str,
    visibility: str | None = None,
    phi_branches: list[str] | None = None,
    phi_role: str | None = None,
    agreement: str | None = None,
) -> Dataset:
    changes: dict[str, object] = {}
    if visibility is not None:
        if visibility not in datasets.VISIBILITIES:
            raise InvalidInput(f"visibility must be one of {', '.join(datasets.VISIBILITIES)}")
        # Source first, then the dataset, then its copies (as a narrowing of the source
        # takes them), so that two changes along one line of copies wait for each other.
        if (source := source_of(session, dataset)) is not None:
            lock_dataset(session, source)
        lock_dataset(session, dataset)  # a copy derived meanwhile takes the new visibility
        _refuse_wider_than_source(dataset, source, visibility)
        dataset.visibility = changes["visibility"] = visibility
        for derived in derived_from(session, dataset):
            _narrow_to(session, derived, dataset, actor)
    if phi_branches is not None:
        dataset.phi_branches = json.dumps(phi_branches)
        changes["phi_branches"] = phi_branches
    if phi_role is not None:
        dataset.phi_role = changes["phi_role"] = Role.parse(phi_role).name.lower()
    if agreement is not None:
        dataset.agreement = agreement
        changes["agreement_sha256"] = hashlib.sha256(agreement.encode()).hexdigest()
    audit.record(
        session,
        actor=actor,
        action="permission.settings",
        dataset=dataset.full_name,
        details=changes,
    )
    return dataset


# -- access requests -----------------------------------------------------------------------------
def request_access(
    session: Session,
    *,
    dataset: Dataset,
    principal: Principal,
    role: str,
    purpose: str,
    accepted_agreement: str,
) -> AccessRequest:
    """Ask for a role; the requester must send back the exact agreement text they accept."""
    if principal.user_id is None:
        raise InvalidInput("sign in to request access")
    if principal.token_scope is not None and principal.token_scope < Role.WRITE:
        raise Forbidden("a read-only API token cannot request access")
    if not purpose.strip():
        raise InvalidInput("state the purpose of the access")
    if accepted_agreement != dataset.agreement:
        raise InvalidInput("the data-use agreement you accepted is not the current one; read it again")
    wanted = Role.parse(role)
    if _granted(session, dataset, principal.user_id) >= wanted:
        raise Conflict(f"you already hold a grant of {wanted.name.lower()} or more on {dataset.full_name}")
    lock_dataset(session, dataset)  # one pending request per person, even when two race
    pending = select(AccessRequest.id).where(
        AccessRequest.dataset_id == dataset.id,
        AccessRequest.user_id == principal.user_id,
        AccessRequest.status == "pending",
    )
    if (waiting := session.scalar(pending.limit(1))) is not None:
        raise Conflict(
            f"your access request {waiting} to {dataset.full_name} is still waiting for a decision"
        )
    request = AccessRequest(
        dataset_id=dataset.id,
        user_id=principal.user_id,
        role=Role.parse(role).name.lower(),
        purpose=purpose,
        agreement_sha256=hashlib.sha256(accepted_agreement.encode()).hexdigest(),
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="access_request.create",
        purpose=purpose,
        dataset=dataset.full_name,
        object=f"request:{request.id}",
        details={"role": request.role, "agreement_sha256": request.agreement_sha256},
    )
    return request


def list_requests(session: Session, dataset: Dataset, status: str = "pending") -> list[AccessRequest]:
    query = select(AccessRequest).where(AccessRequest.dataset_id == dataset.id)
    if status:
        query = query.where(AccessRequest.status == status)
    return list(session.scalars(query.order_by(AccessRequest.id)))


def decide_request(
    session: Session, *, dataset: Dataset, request_id: int, approve: bool, actor: str, note: str = ""
) -> AccessRequest:
    lock_dataset(session, dataset)  # two decisions at once: the second sees the first
    request = session.get(AccessRequest, request_id, populate_existing=True)
    if request is None or request.dataset_id != dataset.id:
        raise NotFound(f"no access request {request_id}")
    if request.status != "pending":
        raise Conflict(f"access request {request_id} was already {request.status}")
    if approve and request.agreement_sha256 != hashlib.sha256(dataset.agreement.encode()).hexdigest():
        raise Conflict(
            f"access request {request_id} accepted an earlier data-use agreement: deny it, and the "
            "requester asks again under the current one"
        )
    request.status = "approved" if approve else "denied"
    request.decided_by, request.decided_at, request.decision_note = actor, utcnow(), note
    user = session.get(account_queries.User, request.user_id)
    assert user is not None
    audit.record(
        session,
        actor=actor,
        action=f"access_request.{request.status}",
        dataset=dataset.full_name,
        object=f"request:{request_id}",
        details={"user": user.username, "role": request.role, "note": note},
    )
    if approve and _granted(session, dataset, request.user_id) < Role.parse(request.role):
        grant(session, dataset=dataset, role=request.role, actor=actor, username=user.username)
    return request


def _granted(session: Session, dataset: Dataset, user_id: int) -> Role:
    """The role a user's own grant on the dataset gives (an approval never lowers it)."""
    found = session.scalar(
        select(DatasetGrant.role).where(
            DatasetGrant.dataset_id == dataset.id, DatasetGrant.user_id == user_id
        )
    )
    return Role.parse(found) if found else Role.NONE


def may_create_in(session: Session, principal: Principal, owner: str) -> None:
    """Datasets live in the creator's namespace or in an organisation they belong to; an
    administrator may create them anywhere, but only under a user or organisation that exists.
    A read-only token, or one limited to a dataset, creates none."""
    if principal.token_scope is not None and principal.token_scope < Role.WRITE:
        raise Forbidden("a read-only API token cannot create datasets")
    if principal.token_dataset_id is not None:
        raise Forbidden("an API token limited to one dataset cannot create datasets")
    if principal.site_admin or owner == principal.username or principal.user_id is None:
        if principal.user_id is None:
            raise Forbidden("sign in to create datasets")
        named = (
            select(account_queries.User.id)
            .where(account_queries.User.username == owner)
            .union_all(select(account_queries.Org.id).where(account_queries.Org.name == owner))
        )
        if session.execute(named).first() is None:
            raise NotFound(f"no user or organisation named {owner!r}: create it first")
        return
    member_of = session.scalar(
        select(account_queries.Org.id)
        .join(account_queries.OrgMember, account_queries.OrgMember.org_id == account_queries.Org.id)
        .where(account_queries.Org.name == owner, account_queries.OrgMember.user_id == principal.user_id)
    )
    if member_of is None:
        raise Forbidden(
            f"you cannot create datasets under {owner!r}: "
            "it is neither your user name nor an organisation you belong to"
        )


def user_may_write(session: Session, username: str, dataset: Dataset) -> bool:
    """Whether the account named ``username`` may write ``dataset`` now (with a session's powers)."""
    user = session.scalar(select(account_queries.User).where(account_queries.User.username == username))
    if user is None or not user.is_active:
        return False
    return role_of(session, Principal(user.id, user.username, user.is_admin), dataset) >= Role.WRITE


def readable(session: Session, principal: Principal, candidates: list[Dataset]) -> list[Dataset]:
    """The datasets of a listing that the caller may see."""
    return [d for d in candidates if role_of(session, principal, d) >= Role.READ]


def readable_of(session: Session, principal: Principal, owner: str) -> list[Dataset]:
    """Every dataset of ``owner`` the caller may see."""
    found: list[Dataset] = []
    after: int | None = 0
    while after is not None:
        page, after = readable_page(session, principal, owner=owner, after=after, limit=1000)
        found.extend(page)
    return found


def readable_page(
    session: Session,
    principal: Principal,
    *,
    owner: str | None,
    after: int,
    limit: int,
    text: str = "",
    keep: Callable[[Dataset], bool] | None = None,
) -> tuple[list[Dataset], int | None]:
    """Up to ``limit`` datasets the caller may see (matching ``text``, and those ``keep``
    keeps), after id ``after``, and the id to continue after (None at the end). Datasets
    hidden from the caller are passed over, so a short page means the listing is done,
    never that some were hidden."""
    found: list[Dataset] = []
    while True:
        batch = datasets.list_datasets(session, owner=owner, text=text, after=after, limit=limit)
        for dataset in readable(session, principal, batch):
            if keep is not None and not keep(dataset):
                continue
            found.append(dataset)
            if len(found) == limit:
                return found, dataset.id
        if len(batch) < limit:
            return found, None
        after = batch[-1].id
