"""Plain tags over HTTP against a live server: the PHI gate on shared datasets, and the audit
trail of tags, branches and direct merges."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from imagehub.services import audit
from imagehub.services.platform import Platform
from tests.support.reviewing import DS, World, world_of

TAGS = f"{DS}/tags"
RAW_PURPOSE = {"X-Purpose-Of-Use": "curating the raw import"}


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    with world_of(platform) as built:
        yield built


@pytest.fixture
def shared(platform: Platform) -> Iterator[World]:
    with world_of(platform, "internal") as built:
        yield built


def tag(world: World, name: str, ref: str, who: str = "wes", **headers: str) -> httpx.Response:
    return world.http.post(TAGS, json={"name": name, "ref": ref}, headers={**world.as_(who), **headers})


def trail(world: World, prefix: str) -> list[tuple[str, str, str, str]]:
    """(action, actor, ref, commit) of the dataset's audit events starting with ``prefix``."""
    with world.platform.sessions() as session:
        found = audit.search(session, action=prefix, dataset="olga/brain", limit=1000)
        return [(e.action, e.actor, e.ref, e.commit) for e in found]


def test_a_tag_on_a_shared_dataset_waits_for_the_phi_gate(shared: World) -> None:
    head = shared.head("qc")
    pending = tag(shared, "v1", "qc")
    assert pending.status_code == 409, pending.text
    assert pending.json()["error"] == "Blocked"
    (gate,) = pending.json()["blocking_checks"]
    assert (gate["name"], gate["status"]) == ("phi-gate", "pending")
    assert gate["report"] == f"/olga/brain/commits/{head}/checks/phi-gate"
    assert pending.json()["reasons"] == [
        f"check phi-gate is pending on {head[:12]} (report: /olga/brain/commits/{head}/checks/phi-gate)"
    ]

    shared.pipeline_reports(head, metadata_complete="success", thumbnails="success", phi_gate="failure")
    failed = tag(shared, "v1", head)  # by commit id: the same gate
    assert failed.status_code == 409
    assert [(c["name"], c["status"]) for c in failed.json()["blocking_checks"]] == [("phi-gate", "failure")]
    assert shared.http.get(f"{TAGS}/v1", headers=shared.as_("rita")).status_code == 404

    shared.pipeline_reports(head, phi_gate="success")
    made = tag(shared, "v1", "qc")
    assert made.status_code == 201, made.text
    assert made.json()["commit_id"] == head
    assert shared.http.get(f"{TAGS}/v1", headers=shared.as_("rita")).json()["commit_id"] == head
    assert trail(shared, "tag.") == [("tag.create", "wes", "qc", head)]


def test_a_phi_branch_tags_freely_only_what_phi_branches_alone_hold(shared: World) -> None:
    # raw still points where main does: tagging it would publish main's unchecked commit
    shared_history = tag(shared, "raw-snapshot", "raw", who="olga", **RAW_PURPOSE)
    assert shared_history.status_code == 409, shared_history.text
    assert [c["name"] for c in shared_history.json()["blocking_checks"]] == ["phi-gate"]

    raw_head = shared.push("raw", {"scan.dcm": b"raw data with PHI"})
    made = tag(shared, "raw-snapshot", "raw", who="olga", **RAW_PURPOSE)
    assert made.status_code == 201, made.text
    assert made.json()["commit_id"] == raw_head
    # the tag is as guarded as the branch: reading it opens PHI
    assert shared.http.get(f"{DS}/commits/raw-snapshot", headers=shared.as_("wes")).status_code == 403
    assert trail(shared, "tag.") == [("tag.create", "olga", "raw", raw_head)]


def test_a_private_dataset_tags_freely(world: World) -> None:
    head = world.head("qc")
    made = tag(world, "v1", "qc")
    assert made.status_code == 201, made.text
    assert made.json()["commit_id"] == head
    assert tag(world, "v1", "main").status_code == 409  # tags stay immutable


def test_tags_branches_and_direct_merges_are_on_record(world: World) -> None:
    wes, olga = world.as_("wes"), world.as_("olga")
    main, qc = world.head("main"), world.head("qc")

    branched = world.http.post(f"{DS}/branches", json={"name": "fix", "source": "main"}, headers=wes)
    assert branched.status_code == 201, branched.text
    merged = world.http.post(f"{DS}/merges", json={"source": "qc", "destination": "main"}, headers=wes)
    assert merged.status_code == 201, merged.text
    merge_commit = merged.json()["id"]
    assert tag(world, "v1", "main").status_code == 201
    assert world.http.delete(f"{TAGS}/v1", headers=olga).status_code == 204
    assert world.http.delete(f"{DS}/branches/fix", headers=wes).status_code == 204
    refused = world.http.delete(f"{DS}/branches/main", headers=olga)  # the default branch stays
    assert refused.status_code == 409

    assert trail(world, "branch.") == [
        ("branch.create", "wes", "fix", main),
        ("branch.merge", "wes", "main", merge_commit),
        ("branch.delete", "wes", "fix", main),
    ]
    assert trail(world, "tag.") == [
        ("tag.create", "wes", "main", merge_commit),
        ("tag.delete", "olga", "v1", merge_commit),
    ]
    with world.platform.sessions() as session:
        (merge_event,) = audit.search(session, action="branch.merge", dataset="olga/brain")
    assert merge_event.details == {"source": "qc", "source_commit": qc, "strategy": "fail"}
