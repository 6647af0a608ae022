"""Replacement UIDs that stay consistent across files, runs and processes.

A keyed hash rather than a lookup table: every worker that holds the same secret maps a
UID to the same replacement without sharing state, so references between instances of a
dataset still resolve after de-identification, while nobody without the secret can test
a guessed original against the output.
"""

from __future__ import annotations

import hashlib
import hmac

from imagehub.core.errors import InvalidInput

_CACHE_LIMIT = 100_000  # a series repeats its study, series and frame UIDs in every instance
_VERSION_8 = 0x8 << 76  # RFC 9562 custom UUID: the hash bits, marked as such
_VARIANT = 0x2 << 62


class UidMapper:
    """Maps each UID to ``2.25.<decimal of a UUID built from HMAC-SHA256(secret, uid)>``."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise InvalidInput("the secret for UID replacement must not be empty")
        self._secret = secret
        self._cache: dict[str, str] = {}

    def map(self, uid: str) -> str:
        """The replacement for ``uid`` (at most 44 characters); an empty UID stays empty."""
        uid = uid.strip("\x00 ")
        if not uid:
            return ""
        replacement = self._cache.get(uid)
        if replacement is None:
            digest = hmac.new(self._secret, b"uid\x00" + uid.encode(), hashlib.sha256).digest()
            number = int.from_bytes(digest[:16], "big")
            number = number & ~(0xF << 76) & ~(0x3 << 62) | _VERSION_8 | _VARIANT
            replacement = f"2.25.{number}"
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[uid] = replacement
        return replacement
