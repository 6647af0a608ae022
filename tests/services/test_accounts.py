"""Account names the system acts under cannot be taken, by password sign-up or by OIDC."""

from __future__ import annotations

import pytest

from imagehub.core.errors import Conflict, InvalidInput
from imagehub.services import accounts, checks, datasets
from imagehub.services.platform import Platform


def test_system_names_are_reserved_however_the_account_is_made(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        for name in (checks.PIPELINE_ACTOR, "System", "lakefs"):
            with pytest.raises(InvalidInput, match="reserved"):
                accounts.create_user(session, username=name, password="long enough password", actor="test")
        linked = accounts.link_oidc_user(
            session,
            issuer="https://idp.test",
            subject="42",
            email="p@x.test",
            full_name="P",
            preferred="pipeline",
        )
        assert linked.username == "pipeline-2"
        usual = accounts.link_oidc_user(
            session,
            issuer="https://idp.test",
            subject="43",
            email="c@x.test",
            full_name="C",
            preferred="carol",
        )
        assert usual.username == "carol"


def test_a_namespace_datasets_live_under_cannot_be_taken_by_a_new_account(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="demo", name="ct-study", author="cli")
        with pytest.raises(Conflict, match="taken"):
            accounts.create_user(session, username="demo", password="long enough password", actor="test")
        claimed = accounts.link_oidc_user(
            session,
            issuer="https://idp.test",
            subject="7",
            email="demo@x.test",
            full_name="D",
            preferred="demo",
        )
        assert claimed.username == "demo-2"
