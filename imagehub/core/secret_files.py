"""Secrets kept in files (the server's key, a de-identification secret): made once, then read.

An empty or unreadable file is an error, never a secret: keys derived from "" would sign
sessions and pseudonymise patients with a value anyone can guess.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from imagehub.core.errors import ConfigError


def kept_secret(path: Path, *, what: str, random_bytes: int = 32) -> str:
    """The secret in ``path``; when there is no such file, a new one written there (mode
    0600, synced to disk before it is used)."""
    try:
        if path.is_file():
            value = path.read_text().strip()
            if not value:
                raise ConfigError(
                    f"the {what} file {path} is empty: restore it from a backup, or remove it to"
                    " start a new one (what the old one made will no longer match)"
                )
            return value
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(random_bytes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        return value
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise ConfigError(f"cannot use {path} as the {what} file: {reason}") from None
