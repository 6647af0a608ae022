"""Hash chaining of audit events: altering, removing or reordering one breaks the links."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from imagehub.core.hashing import canonical_json, content_id

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    object: str
    dataset: str
    ref: str
    commit: str
    ip: str
    purpose: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def content(self) -> dict[str, Any]:
        """What the hash covers: everything but the row id (order is the chain itself)."""
        body = asdict(self)
        body.pop("hash")
        body.pop("id")
        body["at"] = self.at.isoformat()
        return body


def chain_hash(content: dict[str, Any]) -> str:
    """The hash of one event's content, which includes the previous event's hash."""
    return content_id(canonical_json(content))


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def verify_chain(records: Iterable[AuditRecord], anchor: str = GENESIS) -> ChainBreak | None:
    """The first broken link, or None when every event hashes and links correctly.

    ``anchor`` is the hash the first event must point at: the genesis value, or the
    last hash of a retention purge that removed older events.
    """
    expected_prev = anchor
    for record in records:
        if record.prev_hash != expected_prev:
            return ChainBreak(record.id, "does not link to the event before it (removed or reordered events)")
        if chain_hash(record.content()) != record.hash:
            return ChainBreak(record.id, "content does not match its hash (the event was altered)")
        expected_prev = record.hash
    return None
