"""Check results over HTTP against a live server: outside CI reports, branch rules' required
checks, the pipeline's checks on shared datasets (merges and releases), and the merge race."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imagehub.services.platform import Platform
from tests.support.reviewing import DS, World, world_of

PIPELINE = ("metadata-complete", "thumbnails", "phi-gate")


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    with world_of(platform) as built:
        yield built


@pytest.fixture
def shared(platform: Platform) -> Iterator[World]:
    """The same dataset, internal: its data leaves the PHI boundary once merged or released."""
    with world_of(platform, "internal") as built:
        yield built


def checks_url(commit: str) -> str:
    return f"{DS}/commits/{commit}/checks"


def report_link(commit: str, name: str) -> str:
    return f"/olga/brain/commits/{commit}/checks/{name}"


def blocking(response_json: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["status"]) for c in response_json["blocking_checks"]]


def test_outside_ci_reports_checks(world: World) -> None:
    head = world.head("qc")
    body = {"name": "lint", "status": "failure", "summary": "2 problems", "details": {"problems": 2}}
    made = world.http.post(checks_url("qc"), json=body, headers=world.as_("wes"))
    assert made.status_code == 201, made.text
    assert (made.json()["commit"], made.json()["reported_by"], made.json()["details"]) == (
        head,
        "wes",
        {"problems": 2},
    )
    again = {"name": "lint", "status": "success", "details_url": "https://ci.test/runs/7"}
    assert world.http.post(checks_url(head), json=again, headers=world.as_("wes")).status_code == 201
    listed = world.http.get(checks_url(head), headers=world.as_("rita")).json()["results"]
    assert [(r["name"], r["status"], r["details_url"]) for r in listed] == [
        ("lint", "success", "https://ci.test/runs/7")
    ]
    one = world.http.get(f"{checks_url(head)}/lint", headers=world.as_("rita"))
    assert (one.status_code, one.json()["details"]) == (200, {})
    assert world.http.get(f"{checks_url(head)}/nope", headers=world.as_("rita")).status_code == 404

    for name in PIPELINE:  # nobody marks the pipeline's checks by hand, not even the owner
        forged = world.http.post(
            checks_url(head), json={"name": name, "status": "success"}, headers=world.as_("olga")
        )
        assert forged.status_code == 403, name
        assert "pipeline" in forged.json()["detail"]
    assert world.http.post(checks_url(head), json=again, headers=world.as_("rita")).status_code == 403
    assert world.http.post(checks_url(head), json=again, headers=world.as_("eve")).status_code == 404
    for bad in (
        {"name": "lint", "status": "done"},
        {"name": "no spaces", "status": "success"},
        {"name": "lint", "status": "success", "details_url": "javascript:alert(1)"},
    ):
        assert world.http.post(checks_url(head), json=bad, headers=world.as_("wes")).status_code == 422
    assert world.http.post(checks_url("0" * 64), json=again, headers=world.as_("wes")).status_code == 404
    assert world.actions("check.") == [("check.report", "wes"), ("check.report", "wes")]


def test_a_branch_rule_requires_checks_to_succeed(world: World) -> None:
    unreportable = world.protect(required_checks=["ci", "never reported"])
    assert unreportable.status_code == 422
    assert "never reported" in unreportable.json()["detail"]
    assert (
        world.http.get(f"{DS}/branches/main/protection", headers=world.as_("rita")).json()["protected"]
        is False
    )
    rule = world.protect(required_checks=["ci", " ci ", "dicom-lint"])
    assert rule.status_code == 200, rule.text
    assert rule.json()["required_checks"] == ["ci", "dicom-lint"]
    number = world.open_proposal()
    head = world.head("qc")

    pending = world.merge(number)
    assert pending.status_code == 409
    assert blocking(pending.json()) == [("ci", "pending"), ("dicom-lint", "pending")]
    assert pending.json()["blocking_checks"][0]["report"] == report_link(head, "ci")
    assert (
        f"check ci is pending on {head[:12]} (report: {report_link(head, 'ci')})" in pending.json()["detail"]
    )

    world.http.post(checks_url(head), json={"name": "ci", "status": "failure"}, headers=world.as_("wes"))
    world.http.post(
        checks_url(head), json={"name": "dicom-lint", "status": "success"}, headers=world.as_("wes")
    )
    failed = world.merge(number)
    assert (failed.status_code, blocking(failed.json())) == (409, [("ci", "failure")])
    state = world.readiness(number)
    assert [(c["name"], c["status"]) for c in state["checks"]] == [
        ("ci", "failure"),
        ("dicom-lint", "success"),
    ]

    world.http.post(checks_url(head), json={"name": "ci", "status": "success"}, headers=world.as_("wes"))
    assert world.merge(number).status_code == 200


def test_shared_datasets_merge_only_what_the_pipeline_passed(shared: World) -> None:
    number = shared.open_proposal()
    head = shared.head("qc")
    none_yet = shared.merge(number)
    assert none_yet.status_code == 409, none_yet.text
    assert blocking(none_yet.json()) == [(n, "pending") for n in PIPELINE]
    assert [c["report"] for c in none_yet.json()["blocking_checks"]] == [
        report_link(head, n) for n in PIPELINE
    ]

    shared.pipeline_reports(head, metadata_complete="success", thumbnails="success", phi_gate="failure")
    leaky = shared.merge(number)
    assert leaky.status_code == 409
    (gate,) = leaky.json()["blocking_checks"]
    assert (gate["name"], gate["status"], gate["summary"]) == ("phi-gate", "failure", "phi-gate: failure")
    assert (gate["report"], gate["details_url"]) == (
        report_link(head, "phi-gate"),
        "http://dagster.test/assets/phi-gate",
    )
    assert leaky.json()["reasons"] == [
        f"proposal #{number} cannot merge yet: check phi-gate is failure on {head[:12]} "
        f"(report: {report_link(head, 'phi-gate')})"
    ]

    shared.pipeline_reports(head, phi_gate="pending")  # a re-run under way
    assert blocking(shared.merge(number).json()) == [("phi-gate", "pending")]
    shared.pipeline_reports(head, phi_gate="success")
    assert shared.readiness(number)["ready"] is True
    merged = shared.merge(number)
    assert merged.status_code == 200, merged.text
    assert shared.actions("check.") == [("check.report", "pipeline")] * 5
    assert shared.actions("proposal.merge") == [("proposal.merge", "wes")]


def test_direct_merges_into_shared_branches_are_checked_too(shared: World) -> None:
    olga = shared.as_("olga")
    head = shared.head("qc")
    direct = shared.http.post(f"{DS}/merges", json={"source": "qc", "destination": "main"}, headers=olga)
    assert direct.status_code == 409
    assert blocking(direct.json()) == [(n, "pending") for n in PIPELINE]
    # a PHI branch stays inside the boundary: no pipeline checks to merge into it
    into_raw = shared.http.post(
        f"{DS}/merges",
        json={"source": "qc", "destination": "raw"},
        headers={**olga, "X-Purpose-Of-Use": "curating the raw import"},
    )
    assert into_raw.status_code == 201, into_raw.text
    shared.pipeline_reports(head, metadata_complete="success", thumbnails="success", phi_gate="success")
    merged = shared.http.post(f"{DS}/merges", json={"source": "qc", "destination": "main"}, headers=olga)
    assert merged.status_code == 201, merged.text
    assert merged.json()["parents"][1] == head


def test_private_datasets_need_no_pipeline_checks(world: World) -> None:
    number = world.open_proposal()
    assert world.readiness(number)["checks"] == []
    assert world.merge(number).status_code == 200
    release = {"ref": "main", "tag": "v1", "title": "First"}
    assert world.http.post(f"{DS}/releases", json=release, headers=world.as_("wes")).status_code == 201


def test_shared_releases_wait_for_the_phi_gate(shared: World) -> None:
    head = shared.head("qc")
    release = {"ref": "qc", "tag": "v1", "title": "First"}
    refused = shared.http.post(f"{DS}/releases", json=release, headers=shared.as_("wes"))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "Blocked"
    assert blocking(refused.json()) == [("phi-gate", "pending")]
    assert refused.json()["blocking_checks"][0]["report"] == report_link(head, "phi-gate")

    shared.pipeline_reports(head, phi_gate="failure")
    assert blocking(shared.http.post(f"{DS}/releases", json=release, headers=shared.as_("wes")).json()) == [
        ("phi-gate", "failure")
    ]
    shared.pipeline_reports(head, phi_gate="success")
    made = shared.http.post(f"{DS}/releases", json=release, headers=shared.as_("wes"))
    assert (made.status_code, made.json()["commit"]) == (201, head)
    assert shared.http.get(f"{DS}/tags/v1", headers=shared.as_("rita")).json()["commit_id"] == head
    assert shared.actions("release.") == [("release.create", "wes")]


def test_the_merge_takes_the_head_that_was_checked_not_a_later_push(shared: World) -> None:
    assert shared.protect(required_approvals=1).status_code == 200
    number = shared.open_proposal()
    checked = shared.head("qc")
    shared.pipeline_reports(checked, metadata_complete="success", thumbnails="success", phi_gate="success")
    assert shared.review(number, "olga", "approve").status_code == 201
    assert shared.readiness(number)["ready"] is True

    pushed = shared.push("qc", {"p/leak.dcm": b"not looked at, not checked"})
    raced = shared.merge(number)
    assert raced.status_code == 409, raced.text
    assert blocking(raced.json()) == [(n, "pending") for n in PIPELINE]
    assert raced.json()["reasons"][0] == (
        f"proposal #{number} cannot merge yet: 1 approval(s) on the current head required, 0 given"
    )
    assert all(pushed[:12] in r for r in raced.json()["reasons"][1:])
    assert shared.http.get(f"{DS}/commits/main", headers=shared.as_("rita")).json()["parents"] == []

    shared.pipeline_reports(pushed, metadata_complete="success", thumbnails="success", phi_gate="success")
    assert shared.review(number, "olga", "approve").status_code == 201
    merged = shared.merge(number)
    assert merged.status_code == 200, merged.text
    main = shared.http.get(f"{DS}/commits/main", headers=shared.as_("rita")).json()
    assert (main["id"], main["parents"][1]) == (merged.json()["merged_commit"], pushed)
