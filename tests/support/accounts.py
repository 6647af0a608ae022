"""Users and API tokens for tests, made through the real services."""

from __future__ import annotations

from imagehub.services import accounts
from imagehub.services.platform import Platform

PASSWORD = "correct horse battery staple"


def make_user(platform: Platform, username: str, *, admin: bool = False, scope: str = "admin") -> str:
    """Create a user (password ``PASSWORD``) and return an API token of ``scope``."""
    with platform.sessions.begin() as session:
        user = accounts.create_user(
            session, username=username, password=PASSWORD, actor="test", is_admin=admin
        )
        return accounts.create_token(session, user=user, name="test", scope=scope, actor="test").secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
