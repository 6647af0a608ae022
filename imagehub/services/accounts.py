"""Users, organisations, teams, API tokens and web sessions."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from imagehub.core.auth.passwords import hash_password, needs_rehash, verify_password
from imagehub.core.auth.policy import Principal, Role
from imagehub.core.auth.secrets import digest, new_api_token, new_secret
from imagehub.core.errors import Conflict, ImageHubError, InvalidInput, NotFound
from imagehub.models import accounts as queries
from imagehub.models.accounts import ApiToken, Org, OrgMember, Team, TeamMember, User, WebSession
from imagehub.models.base import utcnow
from imagehub.models.dataset import Dataset
from imagehub.services import audit

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}\Z")


class AuthenticationFailed(ImageHubError):
    """Credentials were missing, wrong, expired or revoked."""


# First path segments the portal and API use, so no user or organisation may own them.
# Paths of the portal, and the names the system itself acts under in the audit trail and in
# check results (a user called "pipeline" would otherwise pass for the imaging pipeline).
RESERVED_NAMES = frozenset(
    {"api", "static", "login", "logout", "purpose", "explore", "settings", "lakefs"}
    | {"pipeline", "system", "cli", "anonymous"}
)


def validate_username(name: str) -> str:
    if not _USERNAME.match(name):
        raise InvalidInput(f"invalid name {name!r}: letters, digits and '-', up to 64")
    if name.lower() in RESERVED_NAMES:
        raise InvalidInput(f"{name!r} is reserved: choose another name")
    return name


def _namespace_taken(session: Session, name: str) -> bool:
    """A user's, an organisation's, or one that datasets live under (made by an administrator
    or `imagehub samples`, deleted ones too): whoever took it would own those datasets. Case
    does not make a name new: ``Admin`` beside ``admin`` would read as the administrator."""
    folded = name.lower()
    return (
        session.scalar(select(User.id).where(func.lower(User.username) == folded).limit(1)) is not None
        or session.scalar(select(Org.id).where(func.lower(Org.name) == folded).limit(1)) is not None
        or session.scalar(select(Dataset.id).where(func.lower(Dataset.owner) == folded).limit(1)) is not None
    )


def create_user(
    session: Session,
    *,
    username: str,
    password: str | None,
    actor: str,
    email: str = "",
    full_name: str = "",
    is_admin: bool = False,
) -> User:
    validate_username(username)
    if _namespace_taken(session, username):
        raise Conflict(f"the name {username!r} is taken")
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        password_hash=hash_password(password) if password else None,
        is_admin=is_admin,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor=actor, action="user.create", object=f"user:{username}", details={"admin": is_admin}
    )
    return user


def ensure_first_admin(session: Session) -> str | None:
    """On a fresh install create ``admin`` with a random password and return it."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, username="admin", password=password, actor="system", is_admin=True)
    return password


def get_user(session: Session, username: str) -> User:
    user = queries.user_by_name(session, username)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def set_password(session: Session, *, username: str, password: str, actor: str) -> None:
    """A new password ends every browser session of the account: one signed in with the old
    password (perhaps the reason for the change) must not go on. API tokens stay."""
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    audit.record(session, actor=actor, action="user.password", object=f"user:{username}")


def set_admin(session: Session, *, username: str, is_admin: bool, actor: str) -> None:
    """Grant or remove site administration; the last active administrator stays one."""
    user = get_user(session, username)
    if user.is_admin == is_admin:
        raise Conflict(f"{username} is {'already' if is_admin else 'not'} a site administrator")
    if not is_admin:
        # Hold every administrator's row first (an update that changes nothing), so that two
        # administrators removing each other at once cannot both see the other remain.
        session.execute(
            update(User)
            .where(User.is_admin)
            .values(is_admin=User.is_admin)
            .execution_options(synchronize_session=False)
        )
        others = select(User.id).where(User.is_admin, User.is_active, User.id != user.id).limit(1)
        if session.scalar(others) is None:
            raise Conflict(f"{username} is the last site administrator: make another one first")
    user.is_admin = is_admin
    audit.record(
        session,
        actor=actor,
        action="permission.site_admin",
        object=f"user:{username}",
        details={"admin": is_admin},
    )


def authenticate(session: Session, *, username: str, password: str) -> User:
    user = queries.user_by_name(session, username)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise AuthenticationFailed("wrong username or password")
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def link_oidc_user(
    session: Session, *, issuer: str, subject: str, email: str, full_name: str, preferred: str
) -> User:
    """The account of an OIDC identity, created on first login under a free username."""
    user = session.scalar(select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject))
    if user is not None:
        if not user.is_active:
            raise AuthenticationFailed("this account is disabled")
        return user
    base = re.sub(r"[^A-Za-z0-9-]", "-", preferred or email.split("@")[0] or "user").strip("-")[:56] or "user"
    name, n = base, 1
    while _namespace_taken(session, name) or name.lower() in RESERVED_NAMES:
        n += 1
        name = f"{base}-{n}"
    user = User(username=name, email=email, full_name=full_name, oidc_issuer=issuer, oidc_subject=subject)
    session.add(user)
    session.flush()
    audit.record(session, actor=name, action="user.create", object=f"user:{name}", details={"oidc": issuer})
    return user


# -- API tokens ---------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(
    session: Session,
    *,
    user: User,
    name: str,
    scope: str,
    actor: str,
    dataset_id: int | None = None,
    expires_in: timedelta | None = None,
) -> IssuedToken:
    Role.parse(scope)
    if not name.strip():
        raise InvalidInput("a token needs a name")
    secret = new_api_token()
    token = ApiToken(
        user_id=user.id,
        name=name.strip(),
        secret_hash=digest(secret),
        scope=scope.lower(),
        dataset_id=dataset_id,
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.create",
        object=f"token:{token.id}",
        details={"user": user.username, "scope": token.scope, "dataset_id": dataset_id},
    )
    return IssuedToken(token, secret)


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_token(session: Session, *, user: User, token_id: int, actor: str, any_user: bool = False) -> None:
    """Revoke one of ``user``'s tokens, or anyone's with ``any_user`` (a site administrator)."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != user.id and not any_user):
        raise NotFound(f"no token {token_id}")
    if token.revoked_at is not None:  # the first revocation's time is the one that matters
        raise Conflict(f"token {token_id} was revoked already, at {token.revoked_at:%Y-%m-%d %H:%M} UTC")
    token.revoked_at = utcnow()
    audit.record(session, actor=actor, action="token.revoke", object=f"token:{token_id}")


def principal_for_token(session: Session, secret: str) -> Principal:
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == digest(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        raise AuthenticationFailed("invalid, expired or revoked API token")
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise AuthenticationFailed("the token's account is disabled")
    token.last_used_at = now
    return Principal(
        user.id, user.username, user.is_admin, Role.parse(token.scope), token.dataset_id, token.id
    )


# -- web sessions -------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenedSession:
    cookie: str
    csrf_token: str
    expires_at: datetime


def open_session(session: Session, *, user: User, hours: float) -> OpenedSession:
    cookie, csrf = new_secret(), new_secret()
    expires = utcnow() + timedelta(hours=hours)
    session.add(WebSession(id_hash=digest(cookie), user_id=user.id, csrf_token=csrf, expires_at=expires))
    session.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
    return OpenedSession(cookie, csrf, expires)


def principal_for_session(session: Session, cookie: str) -> tuple[Principal, str]:
    """The caller behind a session cookie and the CSRF token bound to that session."""
    row = session.get(WebSession, digest(cookie))
    if row is None or row.expires_at <= utcnow():
        raise AuthenticationFailed("session expired: sign in again")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise AuthenticationFailed("the account is disabled")
    return Principal(user.id, user.username, user.is_admin), row.csrf_token


def close_session(session: Session, cookie: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == digest(cookie)))


# -- organisations and teams ---------------------------------------------------------------
def create_org(session: Session, *, name: str, owner: User, actor: str) -> Org:
    validate_username(name)
    if _namespace_taken(session, name):
        raise Conflict(f"the name {name!r} is taken")
    org = Org(name=name)
    session.add(org)
    session.flush()
    session.add(OrgMember(org_id=org.id, user_id=owner.id, role="owner"))
    audit.record(
        session, actor=actor, action="org.create", object=f"org:{name}", details={"owner": owner.username}
    )
    return org


def add_org_member(session: Session, *, org: str, username: str, role: str, actor: str) -> None:
    if role not in ("owner", "member"):
        raise InvalidInput("org role must be owner or member")
    found = session.scalar(select(Org).where(Org.name == org))
    if found is None:
        raise NotFound(f"no organisation {org!r}")
    user = get_user(session, username)
    owners = set(
        session.scalars(
            select(OrgMember.user_id).where(OrgMember.org_id == found.id, OrgMember.role == "owner")
        )
    )
    if role != "owner" and owners == {user.id}:
        raise Conflict(f"{username} is the only owner of {org}: make another member owner first")
    session.merge(OrgMember(org_id=found.id, user_id=user.id, role=role))
    audit.record(
        session,
        actor=actor,
        action="permission.org_member",
        object=f"org:{org}",
        details={"user": username, "role": role},
    )


def create_team(session: Session, *, org: str, name: str, actor: str) -> Team:
    found = session.scalar(select(Org).where(Org.name == org))
    if found is None:
        raise NotFound(f"no organisation {org!r}")
    validate_username(name)
    if session.scalar(select(Team.id).where(Team.org_id == found.id, Team.name == name)) is not None:
        raise Conflict(f"team {org}/{name} already exists")
    team = Team(org_id=found.id, name=name)
    session.add(team)
    session.flush()
    audit.record(session, actor=actor, action="team.create", object=f"team:{org}/{name}")
    return team


def get_team(session: Session, *, org: str, name: str) -> Team:
    team = session.scalar(
        select(Team).join(Org, Org.id == Team.org_id).where(Org.name == org, Team.name == name)
    )
    if team is None:
        raise NotFound(f"no team {org}/{name}")
    return team


def add_team_member(session: Session, *, org: str, team: str, username: str, actor: str) -> None:
    found = get_team(session, org=org, name=team)
    user = get_user(session, username)
    member = select(OrgMember.user_id).where(OrgMember.org_id == found.org_id, OrgMember.user_id == user.id)
    if session.scalar(member) is None:
        raise InvalidInput(f"{username} is not a member of {org}: add them to the organisation first")
    session.merge(TeamMember(team_id=found.id, user_id=user.id))
    audit.record(
        session,
        actor=actor,
        action="permission.team_member",
        object=f"team:{org}/{team}",
        details={"user": username},
    )
