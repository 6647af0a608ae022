"""Canonical encodings and content hashes shared by the version store and the audit trail."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_id(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
