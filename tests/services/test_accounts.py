"""Accounts: names that are not free cannot be taken by a new account, by password sign-up
or by OIDC (the names the system acts under, and namespaces that datasets already live
under); organisations keep an owner; the site keeps an administrator."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, ImageHubError, InvalidInput
from imagehub.models.accounts import User
from imagehub.services import accounts, checks, datasets
from imagehub.services.platform import Platform


def signed_up(session: Session, name: str, refusal: type[ImageHubError], match: str) -> None:
    with pytest.raises(refusal, match=match):
        accounts.create_user(session, username=name, password="long enough password", actor="test")


def first_oidc_sign_in(session: Session, preferred: str) -> str:
    """The username an OIDC identity that prefers ``preferred`` gets on its first sign-in."""
    user = accounts.link_oidc_user(
        session, issuer="https://idp.test", subject=preferred, email="", full_name="", preferred=preferred
    )
    return user.username


def test_system_names_are_reserved_however_the_account_is_made(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        for name in (checks.PIPELINE_ACTOR, "System", "lakefs"):
            signed_up(session, name, InvalidInput, "reserved")
        assert first_oidc_sign_in(session, "pipeline") == "pipeline-2"
        assert first_oidc_sign_in(session, "carol") == "carol"


def test_a_namespace_datasets_live_under_cannot_be_taken_by_a_new_account(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="demo", name="ct-study", author="cli")
        signed_up(session, "demo", Conflict, "taken")
        assert first_oidc_sign_in(session, "demo") == "demo-2"


def test_a_name_differing_only_in_case_is_taken(platform: Platform) -> None:
    """``Admin`` beside ``admin`` would read as the administrator in reviews and the audit trail."""
    with platform.sessions.begin() as session:
        accounts.create_user(session, username="admin", password="long enough password", actor="test")
        datasets.create(session, owner="Demo", name="ct-study", author="cli")
        signed_up(session, "ADMIN", Conflict, "taken")
        assert first_oidc_sign_in(session, "Admin") == "Admin-2"
        assert first_oidc_sign_in(session, "demo") == "demo-2"


def test_an_organisation_keeps_an_owner_and_its_teams_hold_its_members(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        for name in ("alice", "dave", "carol"):
            accounts.create_user(session, username=name, password="long enough password", actor="test")
        accounts.create_org(session, name="lab", owner=accounts.get_user(session, "alice"), actor="test")
        with pytest.raises(Conflict, match="only owner of lab"):
            accounts.add_org_member(session, org="lab", username="alice", role="member", actor="test")
        accounts.add_org_member(session, org="lab", username="dave", role="owner", actor="test")
        accounts.add_org_member(
            session, org="lab", username="alice", role="member", actor="test"
        )  # dave owns it
        accounts.create_team(session, org="lab", name="qc", actor="test")
        with pytest.raises(Conflict, match="team lab/qc already exists"):
            accounts.create_team(session, org="lab", name="qc", actor="test")
        with pytest.raises(InvalidInput, match="carol is not a member of lab"):
            accounts.add_team_member(session, org="lab", team="qc", username="carol", actor="test")
        accounts.add_team_member(session, org="lab", team="qc", username="alice", actor="test")


def test_two_administrators_removing_each_other_at_once_leave_one(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        for name in ("alice", "bob"):
            accounts.create_user(
                session, username=name, password="long enough password", actor="t", is_admin=True
            )
    refused: list[ImageHubError] = []

    def bob_removes_alice() -> None:
        try:
            with platform.sessions.begin() as session:
                accounts.set_admin(session, username="alice", is_admin=False, actor="bob")
        except Conflict as exc:
            refused.append(exc)

    first = platform.sessions()
    try:
        first.begin()
        accounts.set_admin(first, username="bob", is_admin=False, actor="alice")
        second = threading.Thread(target=bob_removes_alice)
        second.start()
        second.join(timeout=1.5)  # it checks while alice's change is not yet committed
        first.commit()
    finally:
        first.close()
    second.join(timeout=30)
    with platform.sessions() as session:
        admins = session.scalars(select(User.username).where(User.is_admin)).all()
    assert admins == ["alice"]
    assert "last site administrator" in str(refused[0])
