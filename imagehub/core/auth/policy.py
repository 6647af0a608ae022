"""Who may do what to a dataset: one pure function, so every rule is testable alone.

Roles are ordered (read < write < admin). Visibility adds an implicit reader role:
``public`` for everyone, ``internal`` for every signed-in user. Branches that the
dataset names as PHI-bearing (raw data) need the dataset's PHI role on top.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from imagehub.core.errors import InvalidInput


class Role(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            role = cls[value.upper()]
        except KeyError:
            raise InvalidInput(f"unknown role {value!r}: use read, write or admin") from None
        if role is Role.NONE:
            raise InvalidInput("role 'none' cannot be granted")
        return role


@dataclass(frozen=True)
class Principal:
    """The caller, as far as authorisation is concerned."""

    user_id: int | None
    username: str
    is_admin: bool = False
    token_scope: Role | None = None  # an API token's ceiling, None for sessions
    token_dataset_id: int | None = None  # a token limited to one dataset
    token_id: int | None = None  # the API token calling, None for sessions

    @property
    def anonymous(self) -> bool:
        return self.user_id is None

    @property
    def unrestricted(self) -> bool:
        """A session or a full token: no ceiling below admin, no single-dataset limit."""
        return self.token_scope in (None, Role.ADMIN) and self.token_dataset_id is None

    @property
    def site_admin(self) -> bool:
        """Site-wide powers need an administrator's session or unrestricted token: a narrower
        token of theirs is only as strong as it says."""
        return self.is_admin and self.unrestricted

    def may_revoke(self, token_id: int) -> bool:
        """A restricted token may revoke itself, no other: one leaked read token must not
        end its owner's wider tokens (nor list them)."""
        return self.unrestricted or token_id == self.token_id

    def may_issue(self, scope: Role, dataset_id: int | None) -> bool:
        """Whether a token of ``scope`` (limited to ``dataset_id``) is no wider than this caller."""
        if self.token_scope is not None and scope > self.token_scope:
            return False
        return self.token_dataset_id is None or dataset_id == self.token_dataset_id


ANONYMOUS = Principal(user_id=None, username="anonymous")


@dataclass(frozen=True)
class DatasetFacts:
    id: int
    owner: str
    visibility: str
    phi_branches: tuple[str, ...]
    phi_role: Role


def effective_role(
    principal: Principal, dataset: DatasetFacts, *, granted: Iterable[Role] = (), owns_namespace: bool = False
) -> Role:
    """The strongest role the caller holds on the dataset, capped by its token."""
    if principal.token_dataset_id is not None and principal.token_dataset_id != dataset.id:
        return Role.NONE
    role = Role.NONE
    if principal.is_admin or owns_namespace:
        role = Role.ADMIN
    role = max([role, *granted])
    if dataset.visibility == "public" or (dataset.visibility == "internal" and not principal.anonymous):
        role = max(role, Role.READ)
    if principal.token_scope is not None:
        role = min(role, principal.token_scope)
    return role


def is_phi_branch(dataset: DatasetFacts, branch: str) -> bool:
    return matches_phi_pattern(branch, dataset.phi_branches)


def matches_phi_pattern(branch: str, patterns: Iterable[str]) -> bool:
    """Whether ``branch`` matches a PHI (raw) branch pattern; case-sensitive, as branch names are."""
    return any(fnmatch.fnmatchcase(branch, pattern) for pattern in patterns)


def may_read_phi(dataset: DatasetFacts, role: Role) -> bool:
    return role >= dataset.phi_role
