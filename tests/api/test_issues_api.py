"""Issues over HTTP, against a live server: the round trip, filters, roles, series links, PHI, audit."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pydicom
import pytest

from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.services import access, audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.portal import run_pipeline

DS = "/api/v1/datasets/olga/brain"
ISSUES = f"{DS}/issues"
PURPOSE = {"X-Purpose-Of-Use": "QC of the raw import"}


@dataclass
class World:
    http: httpx.Client
    platform: Platform
    tokens: dict[str, str]

    def call(self, method: str, url: str, who: str = "wes", **kwargs: Any) -> httpx.Response:
        headers = {**bearer(self.tokens[who]), **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kwargs)

    def open(self, title: str, who: str = "wes", **fields: Any) -> dict[str, Any]:
        created = self.call("POST", ISSUES, who, json={"title": title, **fields})
        assert created.status_code == 201, created.text
        found: dict[str, Any] = created.json()
        return found


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    """olga owns olga/brain (private); wes may write, rita may read, eve is a stranger."""
    tokens = {name: make_user(platform, name) for name in ("olga", "wes", "rita", "eve")}
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="olga", name="brain", author="olga")
        access.grant(session, dataset=dataset, role="write", actor="olga", username="wes")
        access.grant(session, dataset=dataset, role="read", actor="olga", username="rita")
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        yield World(http, platform, tokens)


def indexed_series(platform: Platform, branch: str, seed: int = 0) -> tuple[str, str]:
    """Two CT slices committed on ``branch`` and run through the pipeline: (series UID, a path)."""
    files: dict[str, bytes | None] = {
        f"ct/{seed}/{i}.dcm": ct_instance_bytes(seed=seed, slice_index=i, rows=16, columns=16)
        for i in range(2)
    }
    commit = commit_files(platform, "olga", "brain", branch, files)
    run_pipeline(platform, "olga/brain", commit)
    uid = pydicom.dcmread(io.BytesIO(files[f"ct/{seed}/0.dcm"] or b"")).SeriesInstanceUID
    return str(uid), f"ct/{seed}/0.dcm"


def actions(platform: Platform) -> list[tuple[str, str, str]]:
    with platform.sessions() as session:
        events = audit.search(session, dataset="olga/brain", limit=100)
    return sorted((e.action, e.actor, e.object) for e in events if e.action.startswith("issue."))


def test_round_trip(world: World) -> None:
    created = world.open("Motion in slice 4", body="See *slice 4*.", labels=["QC", "motion"], assignee="rita")
    assert (created["number"], created["state"], created["author"]) == (1, "open", "wes")
    assert (created["labels"], created["assignee"], created["comments"], created["series"]) == (
        ["qc", "motion"],
        "rita",
        0,
        [],
    )
    edited = world.call("PATCH", f"{ISSUES}/1", json={"title": "Motion, slices 4-5", "labels": ["qc"]})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], edited.json()["labels"], edited.json()["assignee"]) == (
        "Motion, slices 4-5",
        ["qc"],
        "rita",
    )
    with world.platform.sessions.begin() as session:  # rita loses access; the issue keeps her
        access.revoke(
            session, dataset=datasets.get(session, owner="olga", name="brain"), actor="olga", username="rita"
        )
    relabelled = world.call("PATCH", f"{ISSUES}/1", json={"labels": ["qc", "x"], "assignee": "rita"})
    assert relabelled.status_code == 200, relabelled.text  # the portal form sends the assignee back
    assert world.call("PATCH", f"{ISSUES}/1", json={"assignee": "eve"}).status_code == 422
    unassigned = world.call("PATCH", f"{ISSUES}/1", json={"assignee": ""}).json()
    assert unassigned["assignee"] is None
    with world.platform.sessions.begin() as session:
        brain = datasets.get(session, owner="olga", name="brain")
        access.grant(session, dataset=brain, role="read", actor="olga", username="rita")
    commented = world.call("POST", f"{ISSUES}/1/comments", json={"body": "Re-acquire?"})
    assert commented.status_code == 201, commented.text
    assert commented.json()["author"] == "wes"
    closed = world.call("POST", f"{ISSUES}/1/close", "olga")
    assert closed.status_code == 200, closed.text
    assert (closed.json()["state"], closed.json()["closed_by"]) == ("closed", "olga")
    assert world.call("POST", f"{ISSUES}/1/close").status_code == 409
    reopened = world.call("POST", f"{ISSUES}/1/reopen").json()
    assert (reopened["state"], reopened["closed_by"], reopened["closed_at"]) == ("open", None, None)
    shown = world.call("GET", f"{ISSUES}/1", "rita").json()
    assert (shown["title"], shown["body"], shown["comments"]) == ("Motion, slices 4-5", "See *slice 4*.", 1)
    thread = world.call("GET", f"{ISSUES}/1/comments", "rita").json()["results"]
    assert [(c["author"], c["body"]) for c in thread] == [("wes", "Re-acquire?")]
    assert actions(world.platform) == [
        ("issue.close", "olga", "issue:1"),
        ("issue.comment", "wes", "issue:1"),
        ("issue.create", "wes", "issue:1"),
        ("issue.reopen", "wes", "issue:1"),
        ("issue.update", "wes", "issue:1"),
        ("issue.update", "wes", "issue:1"),
        ("issue.update", "wes", "issue:1"),
    ]


def numbers(world: World, **params: Any) -> list[int]:
    found = world.call("GET", ISSUES, "rita", params=params)
    assert found.status_code == 200, found.text
    return [issue["number"] for issue in found.json()["results"]]


def test_list_filters_and_pages(world: World) -> None:
    world.open("Motion in slice 4", labels=["qc", "motion"], assignee="rita")
    world.open("Label the liver", labels=["labelling"], assignee="wes")
    world.open("Motion again", labels=["qc"])
    world.call("POST", f"{ISSUES}/3/close")
    assert numbers(world) == [1, 2]
    assert numbers(world, state="closed") == [3]
    assert numbers(world, state="all") == [1, 2, 3]
    assert numbers(world, state="all", label="QC") == [1, 3]
    assert numbers(world, label="qc") == [1]
    assert numbers(world, assignee="wes") == [2]
    assert numbers(world, state="all", q="MOTION") == [1, 3]
    assert numbers(world, state="all", label="qc", assignee="rita") == [1]
    assert numbers(world, label="nothing") == []
    first = world.call("GET", ISSUES, "rita", params={"state": "all", "limit": 2}).json()
    assert [i["number"] for i in first["results"]] == [1, 2]
    assert first["next_after"] == 2
    assert numbers(world, state="all", after=first["next_after"]) == [3]
    assert world.call("GET", ISSUES, "rita", params={"state": "stale"}).status_code == 422
    assert world.call("GET", f"{ISSUES}/9", "rita").status_code == 404


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"title": "   "}, "needs a title"),
        ({"title": "t", "labels": ['bad"label']}, "label"),
        ({"title": "t", "assignee": "nobody"}, "is not a user"),
        ({"title": "t", "assignee": "eve"}, "cannot read olga/brain"),
        ({"title": "x" * 300}, "title"),
    ],
    ids=["blank-title", "bad-label", "unknown-assignee", "assignee-without-access", "long-title"],
)
def test_bad_input_is_a_clear_422(world: World, body: dict[str, Any], detail: str) -> None:
    refused = world.call("POST", ISSUES, json=body)
    assert refused.status_code == 422, refused.text
    assert detail in refused.text


def test_roles(world: World) -> None:
    world.open("Motion in slice 4")
    for method, url, body in [
        ("POST", ISSUES, {"title": "by a reader"}),
        ("PATCH", f"{ISSUES}/1", {"title": "renamed"}),
        ("POST", f"{ISSUES}/1/comments", {"body": "a reader's comment"}),
        ("POST", f"{ISSUES}/1/close", None),
    ]:
        assert world.call(method, url, "rita", json=body).status_code == 403, (method, url)
        assert world.call(method, url, "eve", json=body).status_code == 404, (method, url)
    assert world.call("GET", ISSUES, "eve").status_code == 404
    assert world.call("GET", f"{ISSUES}/1", "eve").status_code == 404
    assert world.http.get(ISSUES).status_code == 401
    assert world.call("GET", f"{ISSUES}/1", "rita").json()["title"] == "Motion in slice 4"


def test_link_and_unlink_a_series(world: World) -> None:
    uid, path = indexed_series(world.platform, "main")
    world.open("Streaks in the CT")
    body = {"ref": "main", "series_instance_uid": uid, "path": path, "note": "streaks"}
    linked = world.call("POST", f"{ISSUES}/1/series", json=body)
    assert linked.status_code == 201, linked.text
    with world.platform.sessions() as session:
        head = datasets.repository(session, datasets.get(session, owner="olga", name="brain")).resolve("main")
    link = linked.json()
    assert (link["commit"], link["ref"], link["series_instance_uid"], link["path"]) == (
        head.id,
        "main",
        uid,
        path,
    )
    assert world.call("POST", f"{ISSUES}/1/series", json=body).status_code == 409
    assert world.call("POST", f"{ISSUES}/1/series", "rita", json=body).status_code == 403
    for wrong, detail in [
        ({**body, "series_instance_uid": "1.2.3"}, "1.2.3"),
        ({**body, "path": "ct/elsewhere.dcm"}, "is not a file of series"),
        ({**body, "ref": "nope"}, "no branch, tag or commit named 'nope'"),
    ]:
        refused = world.call("POST", f"{ISSUES}/1/series", json=wrong)
        assert refused.status_code == 422, refused.text
        assert detail in refused.text
    shown = world.call("GET", f"{ISSUES}/1", "rita").json()
    assert [(s["id"], s["commit"], s["withheld"]) for s in shown["series"]] == [(link["id"], head.id, False)]
    assert world.call("DELETE", f"{ISSUES}/1/series/{link['id']}", "rita").status_code == 403
    assert world.call("DELETE", f"{ISSUES}/1/series/{link['id']}").status_code == 204
    assert world.call("DELETE", f"{ISSUES}/1/series/{link['id']}").status_code == 404
    assert world.call("GET", f"{ISSUES}/1", "rita").json()["series"] == []
    assert [a for a in actions(world.platform) if a[0] in ("issue.link", "issue.unlink")] == [
        ("issue.link", "wes", "issue:1"),
        ("issue.unlink", "wes", "issue:1"),
    ]


def test_series_in_raw_data_are_gated(world: World) -> None:
    with world.platform.sessions.begin() as session:
        datasets.repository(session, datasets.get(session, owner="olga", name="brain")).create_branch(
            "raw", "main"
        )
    uid, _ = indexed_series(world.platform, "raw", seed=3)
    world.open("PHI burned into the scout")
    body = {"ref": "raw", "series_instance_uid": uid}
    assert world.call("POST", f"{ISSUES}/1/series", "wes", json=body, headers=PURPOSE).status_code == 403
    assert world.call("POST", f"{ISSUES}/1/series", "olga", json=body).status_code == 428
    linked = world.call("POST", f"{ISSUES}/1/series", "olga", json=body, headers=PURPOSE)
    assert linked.status_code == 201, linked.text
    hidden = world.call("GET", f"{ISSUES}/1", "wes").json()["series"]
    assert hidden == [{"id": linked.json()["id"], "withheld": True}]
    unseen = f"{ISSUES}/1/series/{linked.json()['id']}"
    assert world.call("DELETE", unseen, "wes", headers=PURPOSE).status_code == 403  # what wes may not see
    assert world.call("GET", f"{ISSUES}/1", "olga").json()["series"][0]["withheld"] is True  # no purpose
    shown = world.call("GET", f"{ISSUES}/1", "olga", headers=PURPOSE).json()["series"]
    assert (shown[0]["series_instance_uid"], shown[0]["withheld"]) == (uid, False)
    with world.platform.sessions() as session:
        opened = audit.search(session, action="phi.open", dataset="olga/brain", limit=10)
    assert {(e.actor, e.purpose) for e in opened} == {("olga", PURPOSE["X-Purpose-Of-Use"])}
    assert len(opened) == 2  # linking, then reading the link
