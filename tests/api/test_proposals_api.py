"""Change proposals over HTTP, against a live server: roles, PHI, conflicts and the round trip."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from imagehub.services import access, audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server

DS = "/api/v1/datasets/olga/brain"
PROPOSALS = f"{DS}/proposals"
PURPOSE = {"X-Purpose-Of-Use": "quality control of the raw import"}


@dataclass
class World:
    http: httpx.Client
    platform: Platform
    tokens: dict[str, str]

    def as_(self, who: str, **extra: str) -> dict[str, str]:
        return {**bearer(self.tokens[who]), **extra}


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    """olga owns olga/brain; wes may write, rita may read, eve is a stranger."""
    tokens = {name: make_user(platform, name) for name in ("olga", "wes", "rita", "eve")}
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="olga", name="brain", author="olga")
        access.grant(session, dataset=dataset, role="write", actor="olga", username="wes")
        access.grant(session, dataset=dataset, role="read", actor="olga", username="rita")
        repo = datasets.repository(session, dataset)
        for name in ("qc", "raw", "raw-clean"):
            repo.create_branch(name, "main")
    commit_files(platform, "olga", "brain", "qc", {"a.dcm": b"QC"})
    commit_files(platform, "olga", "brain", "raw", {"p1/ct.dcm": b"PHI"})
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        yield World(http, platform, tokens)


def open_proposal(world: World, source: str = "qc", target: str = "main", who: str = "wes") -> httpx.Response:
    body = {"source": source, "target": target, "title": f"{source} into {target}"}
    return world.http.post(PROPOSALS, json=body, headers=world.as_(who, **PURPOSE))


def test_round_trip(world: World) -> None:
    created = open_proposal(world)
    assert created.status_code == 201, created.text
    assert created.json()["number"] == 1
    assert created.json()["summary"] == {"ahead": 1, "changed_files": 1, "truncated": False}
    edited = world.http.patch(
        f"{PROPOSALS}/1", json={"title": "QC pass", "reviewers": ["rita"]}, headers=world.as_("wes")
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], edited.json()["reviewers"]) == ("QC pass", ["rita"])
    listed = world.http.get(PROPOSALS, headers=world.as_("rita")).json()
    assert [p["number"] for p in listed["results"]] == [1]
    assert world.http.get(f"{PROPOSALS}/1", headers=world.as_("rita")).json()["summary"]["ahead"] == 1

    assert world.http.post(f"{PROPOSALS}/1/merge", json={}, headers=world.as_("rita")).status_code == 403
    merged = world.http.post(f"{PROPOSALS}/1/merge", json={"message": "ship it"}, headers=world.as_("wes"))
    assert merged.status_code == 200, merged.text
    assert (merged.json()["state"], merged.json()["merged_by"]) == ("merged", "wes")
    head = world.http.get(f"{DS}/commits/main", headers=world.as_("rita")).json()
    assert (head["id"], head["message"]) == (merged.json()["merged_commit"], "ship it")
    assert world.http.post(f"{PROPOSALS}/1/merge", json={}, headers=world.as_("wes")).status_code == 409
    assert world.http.get(PROPOSALS, params={"state": "merged"}, headers=world.as_("rita")).json()["results"]
    assert world.http.get(PROPOSALS, params={"state": "draft"}, headers=world.as_("rita")).status_code == 422
    assert world.http.get(f"{PROPOSALS}/7", headers=world.as_("rita")).status_code == 404


def test_strangers_see_nothing(world: World) -> None:
    assert open_proposal(world).status_code == 201
    for method, path in [
        ("GET", PROPOSALS),
        ("GET", f"{PROPOSALS}/1"),
        ("PATCH", f"{PROPOSALS}/1"),
        ("POST", f"{PROPOSALS}/1/merge"),
        ("POST", f"{PROPOSALS}/1/close"),
    ]:
        response = world.http.request(method, path, json={}, headers=world.as_("eve"))
        assert response.status_code == 404, (method, path)
        assert b"qc" not in response.content
    assert world.http.get(PROPOSALS).status_code == 401
    assert open_proposal(world, who="rita").status_code == 403


def test_close_reopen_and_refusals(world: World) -> None:
    assert open_proposal(world, "main", "qc").status_code == 422  # qc already contains main
    assert open_proposal(world, "nope", "main").status_code == 422
    assert open_proposal(world).status_code == 201
    assert open_proposal(world).status_code == 409  # one open proposal per pair of branches
    closed = world.http.post(f"{PROPOSALS}/1/close", headers=world.as_("wes"))
    assert (closed.status_code, closed.json()["closed_by"]) == (200, "wes")
    assert world.http.get(PROPOSALS, headers=world.as_("rita")).json()["results"] == []
    assert world.http.post(f"{PROPOSALS}/1/merge", json={}, headers=world.as_("wes")).status_code == 409
    reopened = world.http.post(f"{PROPOSALS}/1/reopen", headers=world.as_("wes"))
    assert (reopened.status_code, reopened.json()["state"]) == (200, "open")


def test_conflict_answers_409_with_the_paths(world: World) -> None:
    commit_files(world.platform, "olga", "brain", "main", {"a.dcm": b"MAIN"})
    assert open_proposal(world).status_code == 201
    refused = world.http.post(f"{PROPOSALS}/1/merge", json={"strategy": "fail"}, headers=world.as_("wes"))
    assert refused.status_code == 409
    assert refused.json()["error"] == "MergeConflict"
    assert [c["path"] for c in refused.json()["conflicts"]] == ["a.dcm"]
    assert world.http.get(f"{PROPOSALS}/1", headers=world.as_("wes")).json()["state"] == "open"
    taken = world.http.post(f"{PROPOSALS}/1/merge", json={"strategy": "ours"}, headers=world.as_("wes"))
    assert taken.status_code == 200, taken.text


def test_protected_target_takes_a_proposal(world: World) -> None:
    protect = world.http.put(
        f"{DS}/branches/main/protection", json={"protected": True}, headers=world.as_("olga")
    )
    assert protect.status_code == 200
    direct = {"message": "x", "changes": {"put": [], "delete": ["a.dcm"]}, "allow_empty": True}
    assert (
        world.http.post(f"{DS}/branches/main/commits", json=direct, headers=world.as_("wes")).status_code
        == 409
    )
    assert open_proposal(world).status_code == 201
    assert world.http.post(f"{PROPOSALS}/1/merge", json={}, headers=world.as_("wes")).status_code == 200


def test_phi_branches_behind_the_proposal(world: World) -> None:
    """Both branches pass the PHI gate, and raw data never flows into a de-identified branch."""
    assert open_proposal(world, "raw", "main").status_code == 403  # wes lacks the PHI role
    to_main = open_proposal(world, "raw", "main", who="olga")
    assert to_main.status_code == 403, to_main.text
    assert "de-identify" in to_main.json()["detail"]
    assert open_proposal(world, "qc", "raw").status_code == 403  # the target is gated too
    no_purpose = world.http.post(
        PROPOSALS, json={"source": "qc", "target": "raw", "title": "t"}, headers=world.as_("olga")
    )
    assert no_purpose.status_code == 428
    assert open_proposal(world, "qc", "raw", who="olga").status_code == 201
    assert world.http.get(f"{PROPOSALS}/1", headers=world.as_("wes")).status_code == 403
    assert (
        world.http.post(f"{PROPOSALS}/1/merge", json={}, headers=world.as_("wes", **PURPOSE)).status_code
        == 403
    )
    merged = world.http.post(f"{PROPOSALS}/1/merge", json={}, headers=world.as_("olga", **PURPOSE))
    assert merged.status_code == 200, merged.text
    with world.platform.sessions() as session:
        opened = audit.search(session, action="phi.open", actor="olga")
        assert {e.ref for e in opened} == {"raw"}
        assert [e.action for e in audit.search(session, action="proposal.", dataset="olga/brain")] == [
            "proposal.create",
            "proposal.merge",
        ]


def test_direct_merges_respect_protection_and_never_carry_raw_data_out(world: World) -> None:
    olga = world.as_("olga", **PURPOSE)
    raw_out = world.http.post(f"{DS}/merges", json={"source": "raw", "destination": "main"}, headers=olga)
    assert raw_out.status_code == 403
    assert "de-identify" in raw_out.json()["detail"]
    world.http.put(f"{DS}/branches/main/protection", json={"protected": True}, headers=olga)
    direct = world.http.post(f"{DS}/merges", json={"source": "qc", "destination": "main"}, headers=olga)
    assert direct.status_code == 409
    assert "change proposal" in direct.json()["detail"]
    assert open_proposal(world).status_code == 201
    assert world.http.post(f"{PROPOSALS}/1/merge", json={}, headers=olga).status_code == 200
    # a writer without the PHI role cannot even name a raw branch as a merge destination
    into_raw = world.http.post(
        f"{DS}/merges", json={"source": "qc", "destination": "raw"}, headers=world.as_("wes")
    )
    assert into_raw.status_code == 403
