"""Raw data never leaves the PHI branches by branching or deriving: only de-identification
takes it out. Judged by commit, so a PHI branch still on shared history branches freely."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imagehub.core.vcs import Ref, RefKind
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.support.reviewing import DS, World, world_of

PURPOSE = {"X-Purpose-Of-Use": "curation of the raw import"}


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    with world_of(platform) as built:
        yield built


def branch(world: World, name: str, source: str) -> int:
    headers = {**world.as_("olga"), **PURPOSE}
    return world.http.post(
        f"{DS}/branches", json={"name": name, "source": source}, headers=headers
    ).status_code


def derive(world: World, name: str, ref: str) -> int:
    body = {"owner": "olga", "name": name, "ref": ref}
    return world.http.post(f"{DS}/derive", json=body, headers={**world.as_("olga"), **PURPOSE}).status_code


def test_raw_data_stays_in_phi_branches(world: World) -> None:
    assert branch(world, "from-raw-early", "raw") == 201  # raw still sits on main's commit
    raw_head = world.push("raw", {"p1/ct.dcm": b"PHI"})
    refused = world.http.post(
        f"{DS}/branches", json={"name": "leak", "source": "raw"}, headers={**world.as_("olga"), **PURPOSE}
    )
    assert refused.status_code == 403
    assert "de-identify the data instead" in refused.json()["detail"]
    assert branch(world, "leak", raw_head) == 403  # by commit id too
    assert branch(world, "leak", "raw~0") == 403
    assert branch(world, "raw-copy", "raw") == 201  # a PHI branch may hold it
    assert branch(world, "plain", "main") == 201
    assert derive(world, "leaked", "raw") == 403
    assert derive(world, "copy", "main") == 201


def test_an_old_branch_named_like_a_raw_commit_id_does_not_open_that_commit(world: World) -> None:
    raw_head = world.push("raw", {"p1/ct.dcm": b"PATIENT NAME: JOHN DOE"})
    with world.platform.sessions.begin() as session:  # made before names like ids were refused
        repo = datasets.repository(session, datasets.get(session, owner="olga", name="brain"))
        repo.stores.refs.create(Ref(raw_head, RefKind.BRANCH, repo.get_ref("main", RefKind.BRANCH).commit))
    reader = world.as_("rita")
    listed = world.http.get(f"{DS}/refs/{raw_head}/objects", headers=reader)
    assert listed.status_code == 403  # the id names the raw commit, as the engine resolves it
    content = world.http.get(
        f"{DS}/refs/{raw_head}/objects/content", params={"path": "p1/ct.dcm"}, headers=reader
    )
    assert content.status_code == 403
    assert derive(world, "leaked", raw_head) == 403


def test_a_direct_merge_of_a_raw_commit_is_refused_however_it_is_named(world: World) -> None:
    raw_head = world.push("raw", {"p1/ct.dcm": b"PHI"})
    headers = {**world.as_("olga"), **PURPOSE}
    for source in ("raw", "raw~0", raw_head):
        merged = world.http.post(
            f"{DS}/merges", json={"source": source, "destination": "main"}, headers=headers
        )
        assert merged.status_code == 403, (source, merged.text)
    assert world.head("main") != raw_head


def test_json_bodies_are_checked_whatever_their_content_type_spelling(world: World) -> None:
    """FastAPI reads ``application/*+json`` and any letter case as JSON: so must the gate."""
    world.push("raw", {"p1/ct.dcm": b"PHI"})
    for content_type in ("APPLICATION/JSON", "application/x+json", "application/json; charset=utf-8"):
        tagged = world.http.post(
            f"{DS}/tags",
            content=b'{"name": "peek", "ref": "raw"}',
            headers={**world.as_("wes"), "Content-Type": content_type},
        )
        assert tagged.status_code == 403, (content_type, tagged.text)


def test_reverting_a_raw_commit_onto_a_plain_branch_is_refused(world: World) -> None:
    world.push("raw", {"p1/ct.dcm": b"PHI"})
    cleared = world.push("raw", {"p1/ct.dcm": None})
    headers = {**world.as_("olga"), **PURPOSE}
    for commit in ("raw", cleared):
        reverted = world.http.post(f"{DS}/branches/main/revert", json={"commit": commit}, headers=headers)
        assert reverted.status_code == 403, (commit, reverted.text)
    qc_commit = world.head("qc")
    undone = world.http.post(f"{DS}/branches/qc/revert", json={"commit": qc_commit}, headers=headers)
    assert undone.status_code == 201
    assert ("branch.revert", "olga") in world.actions("branch.revert")


def test_a_raw_commit_cannot_be_released_by_any_name(world: World) -> None:
    raw_head = world.push("raw", {"p1/ct.dcm": b"PHI"})
    world.push("raw", {"p2/ct.dcm": b"more PHI"})
    headers = {**world.as_("olga"), **PURPOSE}
    for n, ref in enumerate(("raw", "raw~1", raw_head)):
        body = {"ref": ref, "tag": f"v{n}", "title": "raw"}
        released = world.http.post(f"{DS}/releases", json=body, headers=headers)
        assert released.status_code == 403, (ref, released.text)


def test_an_issue_link_resolves_the_ref_exactly_as_the_gate_saw_it(world: World) -> None:
    world.push("raw", {"p1/ct.dcm": b"PHI"})
    made = world.http.post(f"{DS}/issues", json={"title": "odd slice"}, headers=world.as_("wes"))
    link = {"ref": " raw", "series_instance_uid": "1.2.3"}
    linked = world.http.post(
        f"{DS}/issues/{made.json()['number']}/series", json=link, headers=world.as_("wes")
    )
    assert linked.status_code == 422
    assert "remove the spaces" in linked.json()["detail"]
    assert world.head("raw") not in linked.text
