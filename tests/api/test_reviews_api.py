"""Reviews over HTTP against a live server: verdicts, who may give them, required approvals,
stale approvals, requested changes, file and image-point comments, and readiness."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from imagehub.models.imaging import SeriesRow
from imagehub.services import access, audit, datasets
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files
from tests.support.reviewing import DS, PROPOSALS, World, world_of

SERIES = "1.2.826.0.1.3680043.8.498.7"


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    with world_of(platform) as built:
        yield built


def index_series(world: World, commit_id: str, instances: int = 3) -> None:
    """What the pipeline's imaging index would hold for the commit: one DICOM series."""
    with world.platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="olga", name="brain")
        members = [f"s/{i}.dcm" for i in range(instances)]
        session.add(
            SeriesRow(
                dataset_id=dataset.id,
                commit_id=commit_id,
                series_key=SERIES,
                kind="dicom",
                modality="CT",
                instances=instances,
                members=json.dumps(members),
            )
        )


def test_verdicts_and_who_may_give_them(world: World) -> None:
    number = world.open_proposal()
    head = world.head("qc")
    own = world.review(number, "wes", "approve")
    assert own.status_code == 403, own.text
    assert "own proposal" in own.json()["detail"]
    assert world.review(number, "wes", "request_changes").status_code == 403
    assert world.review(number, "rita", "approve").status_code == 403  # readers comment only
    assert world.review(number, "rita", "comment", "looks fine").status_code == 403
    assert world.review(number, "eve", "approve").status_code == 404
    assert world.review(number, "olga", "maybe").status_code == 422
    assert world.review(number, "walt", "comment").status_code == 422  # a comment needs text

    approved = world.review(number, "olga", "approve", "checked every slice")
    assert approved.status_code == 201, approved.text
    assert (approved.json()["reviewer"], approved.json()["verdict"], approved.json()["commit"]) == (
        "olga",
        "approve",
        head,
    )
    assert world.review(number, "walt", "request_changes", "slice 4 is blurred").status_code == 201
    assert world.review(number, "wes", "comment", "will fix").status_code == 201  # authors may comment
    said = world.http.post(f"{PROPOSALS}/{number}/comments", json={"body": "ok"}, headers=world.as_("rita"))
    assert said.status_code == 201, said.text

    listed = world.http.get(f"{PROPOSALS}/{number}/reviews", headers=world.as_("rita")).json()["results"]
    assert [(r["reviewer"], r["verdict"]) for r in listed] == [
        ("olga", "approve"),
        ("walt", "request_changes"),
        ("wes", "comment"),
    ]
    assert world.actions("proposal.review") == [
        ("proposal.review", "olga"),
        ("proposal.review", "walt"),
        ("proposal.review", "wes"),
    ]
    assert world.actions("proposal.comment") == [("proposal.comment", "rita")]

    assert world.http.post(f"{PROPOSALS}/{number}/close", headers=world.as_("wes")).status_code == 200
    late = world.review(number, "olga", "approve")
    assert late.status_code == 409
    assert "closed" in late.json()["detail"]
    assert world.readiness(number)["reasons"] == [f"proposal #{number} is closed"]


def test_required_approvals_block_the_merge_and_go_stale_on_a_push(world: World) -> None:
    protected = world.protect(required_approvals=1)
    assert protected.status_code == 200, protected.text
    assert (protected.json()["protected"], protected.json()["required_approvals"]) == (True, 1)
    shown = world.http.get(f"{DS}/branches/main/protection", headers=world.as_("rita")).json()
    assert (shown["required_approvals"], shown["required_checks"]) == (1, [])
    assert world.protect(required_approvals=21).status_code == 422
    assert (
        world.http.put(
            f"{DS}/branches/main/protection", json={"protected": True}, headers=world.as_("wes")
        ).status_code
        == 403
    )  # admins set the rules

    number = world.open_proposal()
    refused = world.merge(number)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "Blocked"
    assert refused.json()["reasons"] == [
        f"proposal #{number} cannot merge yet: 1 approval(s) on the current head required, 0 given"
    ]
    assert refused.json()["blocking_checks"] == []

    assert world.review(number, "olga", "approve").status_code == 201
    ready = world.readiness(number)
    assert (ready["ready"], ready["head"], ready["reasons"]) == (True, world.head("qc"), [])

    new_head = world.push("qc", {"b.dcm": b"more data"})  # nobody has looked at this yet
    stale = world.readiness(number)
    assert stale["ready"] is False
    assert stale["head"] == new_head
    assert stale["approvals"] == {
        "required": 1,
        "approved_by": [],
        "stale": ["olga"],
        "changes_requested_by": [],
        "satisfied": False,
    }
    assert world.merge(number).status_code == 409

    assert world.review(number, "olga", "approve", "seen b.dcm too").status_code == 201
    merged = world.merge(number)
    assert merged.status_code == 200, merged.text
    merge_commit = world.http.get(f"{DS}/commits/main", headers=world.as_("rita")).json()
    assert merge_commit["parents"][1] == new_head
    assert world.actions("branch.") == [("branch.protection", "olga"), ("branch.rule", "olga")]
    assert world.actions("proposal.") == [
        ("proposal.create", "wes"),
        ("proposal.review", "olga"),
        ("proposal.review", "olga"),
        ("proposal.merge", "wes"),
    ]
    after = world.readiness(number)
    assert (after["ready"], after["reasons"]) == (False, [f"proposal #{number} is merged"])


def test_requested_changes_block_until_the_same_reviewer_approves(world: World) -> None:
    assert world.protect(required_approvals=1).status_code == 200
    number = world.open_proposal()
    assert world.review(number, "walt", "request_changes", "wrong window level").status_code == 201
    assert world.review(number, "olga", "approve").status_code == 201
    blocked = world.merge(number)
    assert blocked.status_code == 409
    assert blocked.json()["reasons"] == [f"proposal #{number} cannot merge yet: changes requested by walt"]
    assert world.review(number, "walt", "comment", "still looking").status_code == 201  # not a verdict
    assert world.readiness(number)["approvals"]["changes_requested_by"] == ["walt"]
    assert world.review(number, "walt", "approve").status_code == 201
    ready = world.readiness(number)
    assert ready["ready"] is True
    assert ready["approvals"]["approved_by"] == ["olga", "walt"]
    assert world.merge(number).status_code == 200


def test_direct_merges_cannot_skip_required_approvals(world: World) -> None:
    """Approvals come with a proposal; a direct merge into a branch that needs them is refused,
    and a branch that needs them keeps its protection."""
    unprotected = world.http.put(
        f"{DS}/branches/main/protection",
        json={"protected": False, "required_approvals": 1},
        headers=world.as_("olga"),
    )
    assert unprotected.status_code == 422, unprotected.text
    assert world.protect(required_approvals=1).status_code == 200
    keep = world.http.put(
        f"{DS}/branches/main/protection", json={"protected": False}, headers=world.as_("olga")
    )
    assert keep.status_code == 422
    assert "required_approvals" in keep.json()["detail"]
    with world.platform.sessions.begin() as session:  # as if protection had been lifted in the engine
        datasets.repository(session, datasets.get(session, owner="olga", name="brain")).set_protected(
            "main", False
        )
    direct = world.http.post(
        f"{DS}/merges", json={"source": "qc", "destination": "main"}, headers=world.as_("olga")
    )
    assert direct.status_code == 409, direct.text
    assert "change proposal" in direct.json()["detail"]
    lifted = world.http.put(
        f"{DS}/branches/main/protection",
        json={"protected": False, "required_approvals": 0},
        headers=world.as_("olga"),
    )
    assert (lifted.status_code, lifted.json()["required_approvals"]) == (200, 0)
    merged = world.http.post(
        f"{DS}/merges", json={"source": "qc", "destination": "main"}, headers=world.as_("olga")
    )
    assert merged.status_code == 201, merged.text


def test_file_comments_name_a_file_of_the_source_head(world: World) -> None:
    number = world.open_proposal()
    url = f"{PROPOSALS}/{number}/comments"
    on_file = world.http.post(
        url, json={"body": "header looks odd", "path": "a.dcm"}, headers=world.as_("rita")
    )
    assert on_file.status_code == 201, on_file.text
    assert (on_file.json()["path"], on_file.json()["location"]) == ("a.dcm", None)
    missing = world.http.post(url, json={"body": "?", "path": "nope.dcm"}, headers=world.as_("rita"))
    assert missing.status_code == 422
    assert "nope.dcm" in missing.json()["detail"]
    blank = world.http.post(url, json={"body": "   ", "path": "a.dcm"}, headers=world.as_("rita"))
    assert blank.status_code == 422
    both = {"body": "x", "path": "a.dcm", "location": {"series": SERIES, "slice": 0, "x": 1, "y": 1}}
    assert world.http.post(url, json=both, headers=world.as_("rita")).status_code == 422
    assert world.http.post(url, json={"body": "x"}, headers=world.as_("eve")).status_code == 404
    assert world.http.post(url, json={"body": "x"}).status_code == 401
    assert world.actions("proposal.comment") == [("proposal.comment", "rita")]


def test_pinned_comments_name_a_series_and_a_slice_in_it(world: World) -> None:
    number = world.open_proposal()
    url = f"{PROPOSALS}/{number}/comments"

    def pin(series: str, slice_index: int, x: float = 12.5, y: float = 40.0) -> int:
        location = {"series": series, "slice": slice_index, "x": x, "y": y}
        made = world.http.post(
            url, json={"body": "lesion here?", "location": location}, headers=world.as_("walt")
        )
        return made.status_code

    assert pin(SERIES, 0) == 422  # not indexed at the head yet
    index_series(world, world.head("qc"), instances=3)
    assert pin(SERIES, 2) == 201
    assert pin(SERIES, 0, x=0, y=0) == 201
    assert pin(SERIES, 3) == 422  # three images: slices 0..2
    assert pin(SERIES, -1) == 422
    assert pin(SERIES, 1, x=-3) == 422
    assert pin("1.2.3.4", 0) == 422
    for far in ("1e400", "-1e400"):  # JSON numbers past a float's range parse as infinity
        raw = f'{{"body": "x", "location": {{"series": "{SERIES}", "slice": 0, "x": {far}, "y": 1}}}}'
        headers = {**world.as_("walt"), "Content-Type": "application/json"}
        assert world.http.post(url, content=raw, headers=headers).status_code == 422
    general = world.http.post(url, json={"body": "overall fine"}, headers=world.as_("rita"))
    assert general.status_code == 201

    markers = world.http.get(url, params={"series": SERIES}, headers=world.as_("rita")).json()
    assert [(c["location"]["slice"], c["location"]["x"]) for c in markers["results"]] == [(2, 12.5), (0, 0.0)]
    assert markers["results"][0]["location"]["series"] == SERIES
    first = world.http.get(url, params={"limit": 2}, headers=world.as_("rita")).json()
    assert len(first["results"]) == 2
    rest = world.http.get(url, params={"after": first["next_after"]}, headers=world.as_("rita")).json()
    assert [c["body"] for c in rest["results"]] == ["overall fine"]
    assert rest["next_after"] is None
    assert world.http.get(url, params={"limit": 0}, headers=world.as_("rita")).status_code == 422
    with world.platform.sessions() as session:
        pinned = audit.search(session, action="proposal.comment", dataset="olga/brain")
        assert [e.details["on"] for e in pinned] == ["image", "image", "proposal"]


def test_readiness_says_what_the_merge_would_refuse(world: World) -> None:
    merged_directly = world.open_proposal()
    done = world.http.post(
        f"{DS}/merges", json={"source": "qc", "destination": "main"}, headers=world.as_("wes")
    )
    assert done.status_code == 201, done.text
    ready = world.readiness(merged_directly)
    assert ready["ready"] is False
    assert any("nothing to merge" in reason for reason in ready["reasons"])

    with world.platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="olga", name="brain"))
        repo.create_branch("target", "main")
        repo.create_branch("side", "main")
    commit_files(world.platform, "olga", "brain", "qc", {"b.dcm": b"B"})
    commit_files(world.platform, "olga", "brain", "side", {"c.dcm": b"C"})
    into_gone = world.open_proposal(target="target")
    assert world.http.delete(f"{DS}/branches/target", headers=world.as_("olga")).status_code == 204
    gone = world.readiness(into_gone)
    assert gone["reasons"] == ["the target branch 'target' no longer exists"]
    refused = world.merge(into_gone)
    assert refused.status_code == 409
    assert "no longer exists" in refused.json()["detail"]

    from_gone = world.open_proposal(source="side")
    assert world.http.delete(f"{DS}/branches/side", headers=world.as_("olga")).status_code == 204
    vanished = world.readiness(from_gone)
    assert vanished["ready"] is False
    assert vanished["reasons"][0].startswith("the source is gone")


def test_readiness_names_the_paths_a_merge_would_stop_on(world: World) -> None:
    number = world.open_proposal()  # qc adds a.dcm ...
    world.push("qc", {"b.dcm": b"qc's b", "same.dcm": b"both"})
    theirs = {"a.dcm": b"main's a", "b.dcm": b"main's b", "same.dcm": b"both", "c.dcm": b"c"}
    main = world.push("main", theirs)
    found = world.readiness(number)  # ... and main too, differently; same.dcm alike
    assert found["ready"] is False
    settle = "(fix the source, or merge with ours or theirs)"
    assert found["reasons"] == [f"2 conflicting path(s): a.dcm, b.dcm {settle}"]
    assert world.head("main") == main  # the dry run committed nothing
    refused = world.merge(number)
    assert refused.status_code == 409
    assert [c["path"] for c in refused.json()["conflicts"]] == ["a.dcm", "b.dcm"]
    world.push("qc", {"a.dcm": b"main's a", "b.dcm": b"main's b"})  # the source settles both
    assert world.readiness(number)["ready"] is True
    assert world.merge(number).status_code == 200


def test_readiness_is_for_readers_only(world: World) -> None:
    number = world.open_proposal()
    ready = world.readiness(number, "rita")
    assert ready == {
        "head": world.head("qc"),
        "ready": True,
        "reasons": [],
        "approvals": {
            "required": 0,
            "approved_by": [],
            "stale": [],
            "changes_requested_by": [],
            "satisfied": True,
        },
        "checks": [],
    }
    assert world.http.get(f"{PROPOSALS}/{number}/readiness", headers=world.as_("eve")).status_code == 404
    assert world.http.get(f"{PROPOSALS}/9/readiness", headers=world.as_("rita")).status_code == 404


def test_approvals_count_only_while_the_reviewer_may_still_write(world: World) -> None:
    assert world.protect(required_approvals=1).status_code == 200
    number = world.open_proposal()
    assert world.review(number, "walt", "approve").status_code == 201
    assert world.readiness(number)["ready"] is True
    with world.platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="olga", name="brain")
        access.revoke(session, dataset=dataset, actor="olga", username="walt")
    gone = world.readiness(number)
    assert gone["ready"] is False
    assert gone["approvals"]["approved_by"] == []
    assert world.merge(number).status_code == 409
