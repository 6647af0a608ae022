"""Roles, teams, organisations, PHI branches, purposes of use and access requests, for real."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from imagehub.services import accounts, audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server

DS = "/api/v1/datasets/radiology/brain"
AGREEMENT = "I will not attempt to re-identify anyone."


@pytest.fixture
def world(platform: Platform) -> Iterator[dict[str, object]]:
    tokens = {name: make_user(platform, name) for name in ("olga", "rita", "wes", "tom", "eve")}
    with platform.sessions.begin() as session:
        olga = accounts.get_user(session, "olga")
        accounts.create_org(session, name="radiology", owner=olga, actor="test")
        accounts.create_team(session, org="radiology", name="annotators", actor="test")
        accounts.add_org_member(session, org="radiology", username="tom", role="member", actor="test")
        accounts.add_team_member(session, org="radiology", team="annotators", username="tom", actor="test")
        datasets.create(session, owner="radiology", name="brain", author="olga")
        repo = datasets.repository(session, datasets.get(session, owner="radiology", name="brain"))
        repo.create_branch("raw", "main")
    commit_files(platform, "radiology", "brain", "raw", {"p1/ct.dcm": b"PHI-BYTES"})
    commit_files(platform, "radiology", "brain", "main", {"p1/ct.dcm": b"DEID-BYTES"})
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        yield {"http": http, "tokens": tokens, "platform": platform}


def as_(world: dict[str, object], who: str) -> dict[str, str]:
    return bearer(world["tokens"][who])  # type: ignore[index]


def test_grants_teams_and_org_owners(world: dict[str, object]) -> None:
    http: httpx.Client = world["http"]  # type: ignore[assignment]
    assert http.get(DS, headers=as_(world, "rita")).status_code == 404
    assert (
        http.put(
            f"{DS}/grants", json={"user": "rita", "role": "read"}, headers=as_(world, "rita")
        ).status_code
        == 404
    )
    assert (
        http.put(
            f"{DS}/grants", json={"user": "rita", "role": "read"}, headers=as_(world, "olga")
        ).status_code
        == 200
    )
    assert (
        http.put(
            f"{DS}/grants", json={"user": "wes", "role": "write"}, headers=as_(world, "olga")
        ).status_code
        == 200
    )
    assert (
        http.put(
            f"{DS}/grants", json={"team": "radiology/annotators", "role": "read"}, headers=as_(world, "olga")
        ).status_code
        == 200
    )
    assert http.get(DS, headers=as_(world, "rita")).status_code == 200
    assert http.get(DS, headers=as_(world, "tom")).status_code == 200  # through the team
    branch = {"name": "qc", "source": "main"}
    assert http.post(f"{DS}/branches", json=branch, headers=as_(world, "rita")).status_code == 403
    assert http.post(f"{DS}/branches", json=branch, headers=as_(world, "wes")).status_code == 201
    assert http.get(f"{DS}/grants", headers=as_(world, "wes")).status_code == 403  # admin only
    grants = http.get(f"{DS}/grants", headers=as_(world, "olga")).json()["results"]
    assert {(g["user"], g["team"], g["role"]) for g in grants} == {
        ("rita", None, "read"),
        ("wes", None, "write"),
        (None, "radiology/annotators", "read"),
    }
    assert (
        http.post(f"{DS}/grants/revoke", json={"user": "rita"}, headers=as_(world, "olga")).status_code == 204
    )
    assert http.get(DS, headers=as_(world, "rita")).status_code == 404
    settings = http.patch(f"{DS}/settings", json={"visibility": "internal"}, headers=as_(world, "olga"))
    assert settings.status_code == 200
    assert http.get(DS, headers=as_(world, "eve")).status_code == 200  # internal: every signed-in user reads
    assert http.get(DS).status_code == 401
    platform: Platform = world["platform"]  # type: ignore[assignment]
    with platform.sessions() as session:
        actions = [e.action for e in audit.search(session, dataset="radiology/brain", limit=1000)]
    assert actions.count("permission.grant") == 3
    assert "permission.revoke" in actions
    assert "permission.settings" in actions


def test_raw_branches_need_the_phi_role_and_a_purpose(world: dict[str, object]) -> None:
    http: httpx.Client = world["http"]  # type: ignore[assignment]
    olga = as_(world, "olga")
    http.put(f"{DS}/grants", json={"user": "rita", "role": "write"}, headers=olga)
    content = f"{DS}/refs/{{ref}}/objects/content"
    assert (
        http.get(content.format(ref="main"), params={"path": "p1/ct.dcm"}, headers=as_(world, "rita")).content
        == b"DEID-BYTES"
    )
    raw = http.get(content.format(ref="raw"), params={"path": "p1/ct.dcm"}, headers=as_(world, "rita"))
    assert raw.status_code == 403
    assert b"PHI-BYTES" not in raw.content
    why = {"X-Purpose-Of-Use": "QC of the de-identification"}
    raw_commit = http.get(f"{DS}/branches/raw", headers={**olga, **why}).json()["commit_id"]
    by_id = http.get(content.format(ref=raw_commit), params={"path": "p1/ct.dcm"}, headers=as_(world, "rita"))
    assert by_id.status_code == 403  # the raw commit is reachable from no de-identified branch
    diff = http.get(f"{DS}/diff", params={"left": "main", "right": "raw"}, headers=as_(world, "rita"))
    assert diff.status_code == 403
    no_purpose = http.get(content.format(ref="raw"), params={"path": "p1/ct.dcm"}, headers=olga)
    assert no_purpose.status_code == 428
    opened = http.get(
        content.format(ref="raw"),
        params={"path": "p1/ct.dcm"},
        headers={**olga, "X-Purpose-Of-Use": "QC of the de-identification"},
    )
    assert opened.content == b"PHI-BYTES"
    platform: Platform = world["platform"]  # type: ignore[assignment]
    with platform.sessions() as session:
        events = audit.search(session, dataset="radiology/brain", limit=1000)
    phi = [e for e in events if e.action == "phi.open"]
    assert [(e.actor, e.ref, e.purpose) for e in phi] == [("olga", "raw", "QC of the de-identification")] * 2
    downloads = [e for e in events if e.action == "object.download"]
    assert {(e.actor, e.ref) for e in downloads} == {("rita", "main"), ("olga", "raw")}
    assert all(e.ip == "127.0.0.1" for e in downloads)


def test_access_request_with_agreement(world: dict[str, object]) -> None:
    http: httpx.Client = world["http"]  # type: ignore[assignment]
    olga, eve = as_(world, "olga"), as_(world, "eve")
    body = {"role": "read", "purpose": "train a skull-stripping model", "accepted_agreement": AGREEMENT}
    assert http.post(f"{DS}/access-requests", json=body, headers=eve).status_code == 404  # private: invisible
    for path in (f"{DS}/agreement", "/api/v1/datasets/radiology/no-such-dataset/agreement"):
        hidden = http.get(path, headers=eve)  # a private dataset answers as one that does not exist
        assert (hidden.status_code, hidden.json()["error"]) == (404, "AccessDenied")
    http.patch(f"{DS}/settings", json={"visibility": "internal", "agreement": AGREEMENT}, headers=olga)
    http.patch(f"{DS}/settings", json={"visibility": "internal"}, headers=olga)
    assert http.get(f"{DS}/agreement", headers=eve).json()["agreement"] == AGREEMENT
    wrong = http.post(
        f"{DS}/access-requests", json={**body, "accepted_agreement": "something else"}, headers=eve
    )
    assert wrong.status_code == 422
    made = http.post(f"{DS}/access-requests", json=body, headers=eve)
    assert made.status_code == 201
    request_id = made.json()["id"]
    again = http.post(f"{DS}/access-requests", json=body, headers=eve)
    assert (again.status_code, "still waiting" in again.json()["detail"]) == (409, True)
    assert http.get(f"{DS}/access-requests", headers=eve).status_code == 403
    pending = http.get(f"{DS}/access-requests", headers=olga).json()["results"]
    assert [r["id"] for r in pending] == [request_id]
    approve = http.post(f"{DS}/access-requests/{request_id}/decision", json={"approve": True}, headers=olga)
    assert approve.json()["status"] == "approved"
    assert (
        http.post(
            f"{DS}/access-requests/{request_id}/decision", json={"approve": False}, headers=olga
        ).status_code
        == 409
    )
    http.patch(f"{DS}/settings", json={"visibility": "private"}, headers=olga)
    assert http.get(DS, headers=eve).status_code == 200  # the approved grant, not the visibility
    assert http.post(f"{DS}/access-requests", json=body, headers=eve).status_code == 409  # has read already

    # A request made under an earlier agreement is not approved; an approval never lowers a grant.
    asked = http.post(f"{DS}/access-requests", json={**body, "role": "write"}, headers=eve).json()["id"]
    revised = AGREEMENT + " (revised)"
    http.patch(f"{DS}/settings", json={"agreement": revised}, headers=olga)
    stale = http.post(f"{DS}/access-requests/{asked}/decision", json={"approve": True}, headers=olga)
    assert (stale.status_code, "earlier data-use agreement" in stale.json()["detail"]) == (409, True)
    http.post(f"{DS}/access-requests/{asked}/decision", json={"approve": False}, headers=olga)
    renewed = {**body, "role": "write", "accepted_agreement": revised}
    asked = http.post(f"{DS}/access-requests", json=renewed, headers=eve).json()["id"]
    assert http.put(f"{DS}/grants", json={"user": "eve", "role": "admin"}, headers=olga).is_success
    approved = http.post(f"{DS}/access-requests/{asked}/decision", json={"approve": True}, headers=olga)
    assert approved.json()["status"] == "approved"
    grants = http.get(f"{DS}/grants", headers=olga).json()["results"]
    assert [g["role"] for g in grants if g["user"] == "eve"] == ["admin"]


def test_admin_audit_page_lists_and_filters(world: dict[str, object], platform: Platform) -> None:
    http: httpx.Client = world["http"]  # type: ignore[assignment]
    admin = bearer(make_user(platform, "root", admin=True))
    http.get(f"{DS}/refs/main/objects/content", params={"path": "p1/ct.dcm"}, headers=as_(world, "olga"))
    page = http.get("/admin/audit", headers=admin)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Chain: <strong>intact</strong>" in page.text
    assert "object.download" in page.text
    assert "user.create" in page.text
    filtered = http.get("/admin/audit", params={"action": "object."}, headers=admin)
    assert "object.download" in filtered.text
    assert "user.create" not in filtered.text
    assert http.get("/admin/audit", headers=as_(world, "olga")).status_code == 403
    api = http.get("/api/v1/admin/audit", params={"actor": "test", "limit": 2}, headers=admin).json()
    assert len(api["results"]) == 2
    assert {e["actor"] for e in api["results"]} == {"test"}
    assert api["next_after"] == api["results"][-1]["id"]
    assert http.get("/api/v1/admin/audit/verify", headers=admin).json() == {
        "ok": True,
        "event_id": None,
        "reason": None,
    }
    naive = http.get("/api/v1/admin/audit", params={"since": "2000-01-01", "limit": 1}, headers=admin)
    assert naive.status_code == 200  # a time without a zone is UTC
    assert len(naive.json()["results"]) == 1
    past_the_calendar = {"since": "9999-12-31T23:59:59-12:00"}
    refused = http.get("/api/v1/admin/audit", params=past_the_calendar, headers=admin)
    assert refused.status_code == 422
    assert "outside the calendar" in refused.json()["detail"]
    assert http.get("/admin/audit", params={"since": "2026-12-07"}, headers=admin).status_code == 200
    hold = http.post("/api/v1/admin/legal-holds", json={"reason": "subpoena 7"}, headers=admin).json()
    holds = http.get("/api/v1/admin/legal-holds", headers=admin).json()["results"]
    assert [(h["id"], h["dataset"], h["reason"]) for h in holds] == [(hold["id"], "", "subpoena 7")]
    assert http.get("/api/v1/admin/legal-holds", headers=as_(world, "olga")).status_code == 403


def test_paging_through_datasets_passes_over_hidden_ones(
    world: dict[str, object], platform: Platform
) -> None:
    http: httpx.Client = world["http"]  # type: ignore[assignment]
    with platform.sessions.begin() as session:
        for number in range(17):  # private to the radiology organisation
            datasets.create(session, owner="radiology", name=f"hidden{number:02d}", author="olga")
        for name in ("first", "second"):
            datasets.create(session, owner="eve", name=name, author="eve")
    seen: list[str] = []
    after = 0
    while True:
        page = http.get("/api/v1/datasets", params={"limit": 5, "after": after}, headers=as_(world, "eve"))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [f"{d['owner']}/{d['name']}" for d in body["results"]]
        if body["next_after"] is None:
            break
        after = body["next_after"]
    assert seen == ["eve/first", "eve/second"]
    everything = http.get("/api/v1/datasets", params={"limit": 100}, headers=as_(world, "olga")).json()
    assert len(everything["results"]) == 18  # radiology/brain and the 17 hidden from eve


def test_an_org_member_administers_the_dataset_they_create_under_it(world: dict[str, object]) -> None:
    http: httpx.Client = world["http"]  # type: ignore[assignment]
    tom = as_(world, "tom")  # a member of radiology, not an owner
    elsewhere = http.post("/api/v1/datasets", json={"owner": "nosuchowner", "name": "x"}, headers=tom)
    assert elsewhere.status_code == 403
    assert "neither your user name nor an organisation you belong to" in elsewhere.json()["detail"]
    made = http.post("/api/v1/datasets", json={"owner": "radiology", "name": "tom-set"}, headers=tom)
    assert made.status_code == 201, made.text
    assert http.get("/api/v1/datasets/radiology/tom-set", headers=tom).status_code == 200
    grants = http.get("/api/v1/datasets/radiology/tom-set/grants", headers=tom).json()["results"]
    assert [(g["user"], g["role"]) for g in grants] == [("tom", "admin")]
    olga = as_(world, "olga")  # the org's owner made one too: no grant needed, none made
    assert http.post(
        "/api/v1/datasets", json={"owner": "radiology", "name": "olga-set"}, headers=olga
    ).is_success
    assert http.get("/api/v1/datasets/radiology/olga-set/grants", headers=olga).json()["results"] == []


def test_an_org_member_administers_the_dataset_they_derive_under_it(world: dict[str, object]) -> None:
    http: httpx.Client = world["http"]  # type: ignore[assignment]
    tom = as_(world, "tom")
    team = {"team": "radiology/annotators", "role": "read"}
    assert http.put(f"{DS}/grants", json=team, headers=as_(world, "olga")).is_success
    body = {"owner": "radiology", "name": "tom-copy", "ref": "main"}
    assert http.post(f"{DS}/derive", json=body, headers=tom).status_code == 201
    assert http.get("/api/v1/datasets/radiology/tom-copy", headers=tom).status_code == 200
    grants = http.get("/api/v1/datasets/radiology/tom-copy/grants", headers=tom).json()["results"]
    assert [(g["user"], g["role"]) for g in grants] == [("tom", "admin")]
