"""Opaque credentials (API tokens, session ids): shown once, stored only as hashes.

They carry 256 bits of randomness, so a plain SHA-256 at rest is enough: nobody can
brute-force them, and lookups stay a single indexed equality.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "ihp_"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return TOKEN_PREFIX + new_secret()


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
