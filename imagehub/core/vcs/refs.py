"""Branches and tags: names, the storage protocol, and ref expressions like ``main~2`` or ``main@``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from imagehub.core.errors import InvalidInput
from imagehub.core.vcs.types import CommitId

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}\Z")
_EXPR = re.compile(r"^(?P<base>[^~^]+)(?P<suffix>(?:~\d*|\^\d*)*)\Z")
COMMITTED = "@"  # lakeFS's ``main@``: the branch's head commit, without what is staged on it


class RefKind(StrEnum):
    BRANCH = "branch"
    TAG = "tag"


@dataclass(frozen=True)
class Ref:
    name: str
    kind: RefKind
    commit: CommitId
    protected: bool = False
    message: str = ""
    created_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.kind.value,
            "commit_id": self.commit,
            "protected": self.protected,
            "message": self.message,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


MIN_COMMIT_PREFIX = 7  # hex digits that name a commit


def validate_ref_name(name: str, kind: RefKind | str = "ref") -> str:
    """Letters, digits, ``_ . -``; no ``..``, no ``.lock`` suffix, at most 200 characters;
    never what could be read as a commit id, so that a pinned id always means that commit."""
    if not _NAME.match(name) or ".." in name or name.endswith((".lock", ".")):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use letters, digits, '_', '.' and '-' (up to 200), "
            "starting with a letter, digit or '_'"
        )
    if len(name) >= MIN_COMMIT_PREFIX and all(c in "0123456789abcdef" for c in name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: it reads as a commit id; add a letter that is not a-f "
            f"(e.g. 'v{name}' or 'run-{name}')"
        )
    return name


def parse_ref_expression(expression: str) -> tuple[str, list[tuple[str, int]]]:
    """Split ``main~2^2`` into the base ``main`` and steps ``[("~", 2), ("^", 2)]``; a base
    ``main@`` keeps its ``@``, which takes no steps."""
    match = _EXPR.match(expression)
    if not match:
        raise InvalidInput(f"invalid ref {expression!r}")
    if match["base"].endswith(COMMITTED) and match["suffix"]:
        raise InvalidInput(f"invalid ref {expression!r}: '@' is the only modifier a branch then takes")
    steps = []
    for op, digits in re.findall(r"([~^])(\d*)", match["suffix"]):
        steps.append((op, int(digits) if digits else 1))
    return match["base"], steps


class RefConflict(Exception):
    """Raised by a RefStore when a compare-and-swap finds another value."""


class RefStore(Protocol):
    def get(self, name: str, kind: RefKind) -> Ref | None: ...

    def list(self, kind: RefKind, *, prefix: str = "", after: str = "", limit: int = 100) -> list[Ref]: ...

    def create(self, ref: Ref) -> None:
        """Insert a new ref; raises RefConflict when the name is taken."""

    def compare_and_swap(self, name: str, expected: CommitId, new: CommitId) -> None:
        """Move a branch only if it still points at ``expected``; else RefConflict."""

    def set_protected(self, name: str, protected: bool) -> None: ...

    def delete(self, name: str, kind: RefKind) -> bool: ...
