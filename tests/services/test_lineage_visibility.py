"""Derived datasets share their source's data: making the source less visible makes every
copy as private, through deleted copies too, and a copy restored later follows."""

from __future__ import annotations

import threading

import pytest

from imagehub.services import access, datasets
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files


def visibility(platform: Platform, full_name: str) -> str:
    owner, name = full_name.split("/")
    with platform.sessions() as session:
        return datasets.get(session, owner=owner, name=name).visibility


def chain(platform: Platform) -> None:
    """olga/a (public) → olga/b → rita/c, each derived from the one before."""
    with platform.sessions.begin() as session:
        datasets.create(session, owner="olga", name="a", author="olga", visibility="public")
    commit_files(platform, "olga", "a", "main", {"scan.dcm": b"x"})
    with platform.sessions.begin() as session:
        a = datasets.get(session, owner="olga", name="a")
        b = datasets.derive(session, source=a, ref="main", owner="olga", name="b", author="olga")
        datasets.derive(session, source=b, ref="main", owner="rita", name="c", author="rita")


def test_narrowing_reaches_copies_of_a_deleted_copy_and_its_restore(platform: Platform) -> None:
    chain(platform)
    with platform.sessions.begin() as session:
        datasets.delete(session, owner="olga", name="b")
    with platform.sessions.begin() as session:
        a = datasets.get(session, owner="olga", name="a")
        access.update_settings(session, dataset=a, actor="olga", visibility="private")
    assert visibility(platform, "rita/c") == "private"
    with platform.sessions.begin() as session:
        restored = datasets.restore(session, owner="olga", name="b")
        access.follow_source(session, restored, "admin")
    assert visibility(platform, "olga/b") == "private"


def test_a_copy_restored_wider_than_its_source_follows_it(platform: Platform) -> None:
    chain(platform)
    with platform.sessions.begin() as session:
        datasets.delete(session, owner="olga", name="b")
    with platform.sessions.begin() as session:  # as a source narrowed before copies followed it
        datasets.get(session, owner="olga", name="a").visibility = "internal"
    with platform.sessions.begin() as session:
        access.follow_source(session, datasets.restore(session, owner="olga", name="b"), "admin")
    assert [visibility(platform, d) for d in ("olga/a", "olga/b", "rita/c")] == ["internal"] * 3


def test_a_copy_derived_from_a_source_loaded_before_it_narrowed_is_as_private(platform: Platform) -> None:
    """A derive request loads its source first: a narrowing committed before the derive
    locks the source is what the copy follows, not the value loaded before it."""
    chain(platform)
    request = platform.sessions()
    try:
        source = datasets.get(request, owner="olga", name="a")
        assert source.visibility == "public"
        with platform.sessions.begin() as session:
            a = datasets.get(session, owner="olga", name="a")
            access.update_settings(session, dataset=a, actor="olga", visibility="private")
        datasets.derive(request, source=source, ref="main", owner="rita", name="late", author="rita")
        request.commit()
    finally:
        request.close()
    assert visibility(platform, "rita/late") == "private"


def test_widening_a_copy_waits_for_its_source_narrowing_at_the_same_time(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy made public while its source is made private: the two wait for each other,
    so the copy never ends wider than its source."""
    chain(platform)
    with platform.sessions.begin() as session:
        datasets.get(session, owner="olga", name="b").visibility = "private"
    narrowing: list[threading.Thread] = []

    def narrow_source() -> None:
        with platform.sessions.begin() as session:
            a = datasets.get(session, owner="olga", name="a")
            access.update_settings(session, dataset=a, actor="olga", visibility="private")

    checked = access._refuse_wider_than_source

    def check_then_race(*args: object) -> None:
        checked(*args)  # type: ignore[arg-type]
        if not narrowing:  # the source narrows between the widening's check and its commit
            narrowing.append(threading.Thread(target=narrow_source))
            narrowing[0].start()
            narrowing[0].join(timeout=1.5)

    monkeypatch.setattr(access, "_refuse_wider_than_source", check_then_race)
    with platform.sessions.begin() as session:
        b = datasets.get(session, owner="olga", name="b")
        access.update_settings(session, dataset=b, actor="olga", visibility="public")
    narrowing[0].join(timeout=30)
    assert [visibility(platform, d) for d in ("olga/a", "olga/b")] == ["private", "private"]
