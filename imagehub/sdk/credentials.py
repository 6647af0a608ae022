"""Where `imagehub login` keeps API tokens (one JSON file, readable by its owner only) and
which server it signed in to last, the one commands use when given no ``--url``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from imagehub.core.errors import ConfigError


def credentials_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "imagehub" / "credentials.json"


def _last_server_file() -> Path:
    return credentials_file().with_name("server")


def save_token(url: str, token: str) -> Path:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(path.read_text()) if path.is_file() else {}
    stored[url.rstrip("/")] = token
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(stored, handle, indent=1)
    os.chmod(path, 0o600)
    _last_server_file().write_text(url.rstrip("/") + "\n")
    return path


def chosen_server(url: str | None) -> str:
    """``url`` when given (``--url`` or ``IMAGEHUB_URL``), else the server of the last login."""
    if url:
        return url
    last = _last_server_file()
    if last.is_file() and (saved := last.read_text().strip()):
        return saved
    raise ConfigError("which server? pass --url (or set IMAGEHUB_URL), or sign in once: imagehub login URL")


def token_for(url: str) -> str | None:
    """``IMAGEHUB_TOKEN`` wins; else the token saved for this server."""
    if env := os.environ.get("IMAGEHUB_TOKEN"):
        return env
    path = credentials_file()
    if not path.is_file():
        return None
    token = json.loads(path.read_text()).get(url.rstrip("/"))
    return str(token) if token else None
