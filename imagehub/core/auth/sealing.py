"""Keys derived from the site secret, and sealed (encrypted + authenticated) blobs.

One site secret, many purposes: each purpose gets its own key through HMAC, so a key
used to remap UIDs can never decrypt a re-identification map, and rotating nothing
but the site secret re-keys everything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken

from imagehub.core.errors import ImageHubError


class SealBroken(ImageHubError):
    """Sealed data was altered, or the site secret has changed since it was sealed."""


def derive_key(site_secret: str, purpose: str) -> bytes:
    """32 bytes for ``purpose`` (e.g. ``deid:dataset:42``), stable while the secret is."""
    return hmac.new(site_secret.encode(), purpose.encode(), hashlib.sha256).digest()


def _fernet(site_secret: str, purpose: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive_key(site_secret, f"seal:{purpose}")))


def seal(site_secret: str, purpose: str, plaintext: bytes) -> bytes:
    return _fernet(site_secret, purpose).encrypt(plaintext)


def unseal(site_secret: str, purpose: str, sealed: bytes) -> bytes:
    try:
        return _fernet(site_secret, purpose).decrypt(sealed)
    except InvalidToken as exc:
        raise SealBroken(
            f"sealed {purpose} data cannot be opened (altered, or the site secret changed)"
        ) from exc
