"""Password hashing with argon2id; hashes upgrade themselves when parameters change."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from imagehub.core.errors import InvalidInput

MIN_LENGTH = 10
_hasher = PasswordHasher()


def validate_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(validate_password(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-effort check; an account without a password (OIDC only) never matches."""
    if not stored_hash:
        _hasher.hash(password)  # same cost either way, so timing does not reveal accounts
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
