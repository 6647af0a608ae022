"""Proposals from a derived dataset (a fork) back into the dataset it came from, over HTTP:
a reader forks, changes and proposes; checks are read on the fork; the merge brings exactly
the fork's change."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from imagehub.cli.main import app
from imagehub.services import access, accounts, audit, checks, datasets
from imagehub.services.platform import Platform
from tests.support.accounts import PASSWORD, bearer
from tests.support.datasets import commit_files
from tests.support.reviewing import DS, PROPOSALS, World, pipeline_passed, world_of


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    with world_of(platform) as built:
        yield built


def fork(world: World, who: str = "rita", name: str = "brain-fix") -> str:
    body = {"owner": who, "name": name, "ref": "main"}
    made = world.http.post(f"{DS}/derive", json=body, headers=world.as_(who))
    assert made.status_code == 201, made.text
    return f"{who}/{name}"


def propose(world: World, source_dataset: str, who: str = "rita", source: str = "main") -> dict[str, object]:
    body = {"source": source, "source_dataset": source_dataset, "target": "main", "title": "Fix a.dcm"}
    return {"response": world.http.post(PROPOSALS, json=body, headers=world.as_(who))}


def files(world: World, full_name: str, ref: str = "main") -> dict[str, str]:
    owner, name = full_name.split("/")
    with world.platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner=owner, name=name))
        return {e.path: e.blob for e in repo.list_objects(ref)}


def test_a_reader_forks_changes_proposes_and_the_owner_merges(world: World) -> None:
    world.push("main", {"a.dcm": b"v1", "b.dcm": b"b"})
    forked = fork(world)
    commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"v2 by rita", "c.dcm": b"new"})
    world.push("main", {"d.dcm": b"upstream goes on"})
    created = propose(world, forked)["response"]
    assert created.status_code == 201, created.text  # read access is enough from a fork
    proposal = created.json()
    assert proposal["source_dataset"] == "rita/brain-fix"
    assert proposal["summary"] == {"ahead": 1, "changed_files": 2, "truncated": False}
    number = proposal["number"]
    assert world.protect("main", required_approvals=1).status_code == 200
    comment = {"body": "Why was a.dcm changed?", "path": "a.dcm"}
    noted = world.http.post(f"{PROPOSALS}/{number}/comments", json=comment, headers=world.as_("olga"))
    assert noted.status_code == 201, noted.text  # the path is looked up in the fork
    assert world.merge(number, "rita").status_code == 403  # merging takes write access upstream
    blocked = world.merge(number, "olga")
    assert blocked.status_code == 409
    assert "1 approval(s) on the current head required" in blocked.text
    assert world.review(number, "wes", "approve").status_code == 201
    merged = world.merge(number, "olga")
    assert merged.status_code == 200, merged.text
    after = files(world, "olga/brain")
    fork_files = files(world, forked)
    assert after["a.dcm"] == fork_files["a.dcm"]
    assert after["c.dcm"] == fork_files["c.dcm"]
    assert set(after) == {"a.dcm", "b.dcm", "c.dcm", "d.dcm"}  # upstream's own work stays
    head = world.http.get(f"{DS}/commits/main", headers=world.as_("olga")).json()
    assert head["metadata"]["merged_from"] == "rita/brain-fix:main"
    assert head["metadata"]["proposal"] == str(number)
    assert merged.json()["merged_commit"] == head["id"]
    with world.platform.sessions() as session:
        actions = [e.action for e in audit.search(session, action="proposal.", dataset="olga/brain")]
    assert actions[0] == "proposal.create"
    assert actions[-1] == "proposal.merge"


def test_a_shared_datasets_checks_are_read_on_the_fork(platform: Platform) -> None:
    with world_of(platform, visibility="internal") as world:
        forked = fork(world)
        fork_head = commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"fixed"}).id
        number = propose(world, forked)["response"].json()["number"]  # type: ignore[attr-defined]
        ready = world.readiness(number)
        assert ready["head"] == fork_head
        assert {c["name"]: c["status"] for c in ready["checks"]} == {
            "metadata-complete": "pending",
            "thumbnails": "pending",
            "phi-gate": "pending",
        }
        blocked = world.merge(number, "olga")
        assert blocked.status_code == 409
        reports = {c["report"] for c in blocked.json()["blocking_checks"]}
        assert f"/rita/brain-fix/commits/{fork_head}/checks/phi-gate" in reports
        with world.platform.sessions.begin() as session:
            fork_dataset = datasets.get(session, owner="rita", name="brain-fix")
            pipeline_passed(session, fork_dataset, fork_head)
        assert world.readiness(number)["ready"] is True
        assert world.merge(number, "olga").status_code == 200


def test_only_forks_one_may_read_and_with_changes(world: World) -> None:
    with world.platform.sessions.begin() as session:
        datasets.create(session, owner="eve", name="unrelated", author="eve")
    commit_files(world.platform, "eve", "unrelated", "main", {"x.dcm": b"x"})
    forked = fork(world)
    unchanged = propose(world, forked)["response"]
    assert unchanged.status_code == 422
    assert "has not changed since it was derived" in unchanged.text
    hidden = propose(world, "eve/unrelated")["response"]
    assert hidden.status_code == 404  # rita cannot read eve's private dataset: it does not exist for her
    commit_files(world.platform, "eve", "unrelated", "main", {"y.dcm": b"y"})
    stranger = world.http.post(
        PROPOSALS,
        json={"source": "main", "source_dataset": "eve/unrelated", "target": "main", "title": "t"},
        headers=world.as_("eve"),
    )
    assert stranger.status_code == 404  # eve cannot read olga/brain
    with world.platform.sessions.begin() as session:
        access.grant(
            session,
            dataset=datasets.get(session, owner="eve", name="unrelated"),
            role="write",
            actor="eve",
            username="rita",
        )
    unrelated = propose(world, "eve/unrelated")["response"]
    assert unrelated.status_code == 422
    assert "eve/unrelated:main is not derived from olga/brain" in unrelated.text


def test_a_fork_may_be_no_more_visible_than_its_source(world: World) -> None:
    forked = fork(world)  # a reader's fork of a private dataset, private like it
    settings = f"/api/v1/datasets/{forked}/settings"
    for wider in ("public", "internal"):
        refused = world.http.patch(settings, json={"visibility": wider}, headers=world.as_("rita"))
        assert refused.status_code == 403, refused.text
        assert "derived from private olga/brain: it may be at most private" in refused.json()["detail"]
    assert world.http.get(f"/api/v1/datasets/{forked}", headers=world.as_("eve")).status_code == 404
    with world.platform.sessions.begin() as session:
        access.update_settings(
            session,
            dataset=datasets.get(session, owner="olga", name="brain"),
            actor="olga",
            visibility="internal",
        )
    allowed = world.http.patch(settings, json={"visibility": "internal"}, headers=world.as_("rita"))
    assert allowed.status_code == 200, allowed.text
    olga_settings = "/api/v1/datasets/olga/brain/settings"
    narrowed = world.http.patch(olga_settings, json={"visibility": "private"}, headers=world.as_("olga"))
    assert narrowed.status_code == 200, narrowed.text
    assert world.http.get(f"/api/v1/datasets/{forked}", headers=world.as_("eve")).status_code == 404
    with world.platform.sessions() as session:  # the fork followed its source, on the record
        owner, name = forked.split("/")
        assert datasets.get(session, owner=owner, name=name).visibility == "private"
        events = audit.search(session, action="permission.settings", dataset=forked, limit=5)
        assert [e.details.get("narrowed_with") for e in events] == [None, "olga/brain"]  # oldest first


def test_a_forks_author_edits_closes_and_reopens_their_own_proposal(world: World) -> None:
    forked = fork(world)
    commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"fixed"})
    number = propose(world, forked)["response"].json()["number"]  # type: ignore[attr-defined]
    rita, eve = world.as_("rita"), world.as_("eve")
    edited = world.http.patch(f"{PROPOSALS}/{number}", json={"title": "Fix a.dcm, v2"}, headers=rita)
    assert edited.status_code == 200, edited.text
    assert edited.json()["summary"] is not None
    assert world.http.post(f"{PROPOSALS}/{number}/close", headers=rita).json()["state"] == "closed"
    reopened = world.http.post(f"{PROPOSALS}/{number}/reopen", headers=rita)
    assert (reopened.json()["state"], reopened.json()["summary"] is not None) == ("open", True)
    with world.platform.sessions.begin() as session:  # another reader, who is not its author
        access.grant(
            session,
            dataset=datasets.get(session, owner="olga", name="brain"),
            role="read",
            actor="olga",
            username="eve",
        )
    assert world.http.post(f"{PROPOSALS}/{number}/close", headers=eve).status_code == 403
    with world.platform.sessions.begin() as session:  # rita's read-only token writes nothing
        rita_user = accounts.get_user(session, "rita")
        reading = accounts.create_token(session, user=rita_user, name="ro", scope="read", actor="rita").secret
    assert world.http.post(f"{PROPOSALS}/{number}/close", headers=bearer(reading)).status_code == 403


def test_cli_opens_a_proposal_from_a_fork(world: World) -> None:
    forked = fork(world)
    commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"fixed"})
    env = {"IMAGEHUB_URL": str(world.http.base_url).rstrip("/"), "IMAGEHUB_TOKEN": world.tokens["rita"]}
    args = [
        "proposal",
        "create",
        "olga/brain",
        "--from",
        forked,
        "-s",
        "main",
        "-t",
        "main",
        "--title",
        "Fix",
    ]
    made = CliRunner().invoke(app, args, env={**env, "COLUMNS": "200"})
    assert made.exit_code == 0, made.output
    assert "opened #1 [open] Fix (rita/brain-fix:main → main)" in made.output


def test_a_forks_raw_branch_never_merges_into_plain_data(world: World) -> None:
    forked = fork(world)
    with world.platform.sessions.begin() as session:
        fork_dataset = datasets.get(session, owner="rita", name="brain-fix")
        datasets.repository(session, fork_dataset).create_branch("raw", "main")
        # olga may open PHI branches in both datasets, so only the flow rule can refuse her.
        access.grant(session, dataset=fork_dataset, role="admin", actor="rita", username="olga")
    commit_files(world.platform, "rita", "brain-fix", "raw", {"p1/ct.dcm": b"PHI"})
    body = {"source": "raw", "source_dataset": forked, "target": "main", "title": "raw data"}
    headers = {**world.as_("olga"), "X-Purpose-Of-Use": "curation"}
    refused = world.http.post(PROPOSALS, json=body, headers=headers)
    assert refused.status_code == 403
    assert "'rita/brain-fix:raw' holds raw (PHI) data" in refused.json()["detail"]


def test_a_reader_opens_one_from_the_portal_and_sees_the_forks_files(world: World) -> None:
    forked = fork(world)
    head = commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"fixed"}).id
    base = str(world.http.base_url).rstrip("/")
    with httpx.Client(base_url=base) as web:
        signed = web.post("/login", data={"username": "rita", "password": PASSWORD, "next": "/"})
        assert signed.status_code == 303
        assert 'href="/olga/brain/proposals/new"' in web.get("/olga/brain/proposals").text
        form = web.get("/olga/brain/proposals/new", params={"source_dataset": forked}).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        fields = {"source": "main", "target": "main", "title": "Fix a.dcm", "csrf_token": token.group(1)}
        mine = web.post("/olga/brain/proposals/new", data=fields)
        assert mine.status_code == 403  # a reader cannot propose a branch of olga/brain itself
        opened = web.post("/olga/brain/proposals/new", data={**fields, "source_dataset": forked})
        assert opened.status_code == 303, opened.text
        page = web.get(opened.headers["location"]).text
        assert "<code>rita/brain-fix:main</code> into" in page
        assert f'href="/rita/brain-fix/file/{head}?path=a.dcm"' in page  # the file opens in the fork
        more = web.get(opened.headers["location"], headers={"HX-Request": "true"})  # "More changes"
        assert f'href="/rita/brain-fix/file/{head}?path=a.dcm"' in more.text
        link = re.search(r'<p id="fork-changes">.*?<a href="([^"]+)"', page, flags=re.DOTALL)
        assert link is not None
        compare = web.get(link.group(1).replace("&amp;", "&"))
        assert compare.status_code == 200
        assert "a.dcm" in compare.text


def test_only_who_may_write_the_fork_proposes_it(world: World) -> None:
    forked = fork(world)
    commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"fixed"})
    with world.platform.sessions.begin() as session:
        fork_dataset = datasets.get(session, owner="rita", name="brain-fix")
        access.grant(session, dataset=fork_dataset, role="read", actor="rita", username="wes")
    refused = propose(world, forked, who="wes")["response"]
    assert refused.status_code == 403  # wes may read rita's fork, not share it


def test_a_second_proposal_brings_only_what_is_new_since_the_first(world: World) -> None:
    world.push("main", {"a.dcm": b"a", "b.dcm": b"b"})
    forked = fork(world)
    commit_files(world.platform, "rita", "brain-fix", "main", {"b.dcm": None})  # #1 deletes b.dcm
    first = propose(world, forked)["response"].json()["number"]  # type: ignore[attr-defined]
    assert world.merge(first, "olga").status_code == 200
    world.push("main", {"b.dcm": b"b again"})  # upstream brings b.dcm back afterwards
    commit_files(world.platform, "rita", "brain-fix", "main", {"c.dcm": b"c"})
    second = propose(world, forked)["response"].json()  # type: ignore[attr-defined]
    assert second["summary"] == {"ahead": 1, "changed_files": 1, "truncated": False}
    assert world.merge(second["number"], "olga").status_code == 200
    assert set(files(world, "olga/brain")) == {"a.dcm", "b.dcm", "c.dcm"}  # b.dcm not deleted again


def test_readiness_names_what_a_forks_merge_would_stop_on(world: World) -> None:
    world.push("main", {"a.dcm": b"v1", "b.dcm": b"b"})
    forked = fork(world)
    commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"rita's a", "c.dcm": b"new"})
    world.push("main", {"a.dcm": b"upstream's a", "b.dcm": b"b2"})
    number = propose(world, forked)["response"].json()["number"]  # type: ignore[attr-defined]
    found = world.readiness(number)
    assert found["ready"] is False
    assert found["reasons"] == ["1 conflicting path(s): a.dcm (fix the source, or merge with ours or theirs)"]
    assert world.merge(number, "olga").status_code == 409
    body = {"strategy": "theirs"}
    theirs = world.http.post(f"{PROPOSALS}/{number}/merge", json=body, headers=world.as_("olga"))
    assert theirs.status_code == 200, theirs.text
    assert files(world, "olga/brain")["a.dcm"] == files(world, forked)["a.dcm"]


def test_a_forks_checks_count_only_as_this_dataset_would_trust_them(platform: Platform) -> None:
    with world_of(platform, visibility="internal") as world:
        assert world.protect("main", required_checks=["ci-lint"]).status_code == 200
        forked = fork(world)
        head = commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"fixed"}).id
        number = propose(world, forked)["response"].json()["number"]  # type: ignore[attr-defined]
        with world.platform.sessions.begin() as session:
            fork_dataset = datasets.get(session, owner="rita", name="brain-fix")
            pipeline_passed(session, fork_dataset, head)
            checks.report(session, fork_dataset, head, "ci-lint", status="success", reporter="rita")
            fork_dataset.deid_ocr = "none"  # the fork's owner loosened its screening
        reasons = world.readiness(number)["reasons"]
        assert any("screens for PHI differently from olga/brain" in r for r in reasons)
        assert any("check ci-lint was reported by rita, who may not write olga/brain" in r for r in reasons)
        with world.platform.sessions.begin() as session:
            fork_dataset = datasets.get(session, owner="rita", name="brain-fix")
            fork_dataset.deid_ocr = datasets.get(session, owner="olga", name="brain").deid_ocr
            checks.report(session, fork_dataset, head, "ci-lint", status="success", reporter="wes")
        assert world.readiness(number)["ready"] is True
        assert world.merge(number, "olga").status_code == 200


def test_a_phi_gate_passed_under_a_looser_policy_since_put_back_does_not_count(platform: Platform) -> None:
    with world_of(platform, visibility="internal") as world:
        forked = fork(world)
        head = commit_files(world.platform, "rita", "brain-fix", "main", {"a.dcm": b"fixed"}).id
        number = propose(world, forked)["response"].json()["number"]  # type: ignore[attr-defined]
        with world.platform.sessions.begin() as session:
            fork_dataset = datasets.get(session, owner="rita", name="brain-fix")
            fork_dataset.deid_recipe = "FORMAT dicom\n%header\nKEEP PatientName\n"
            pipeline_passed(session, fork_dataset, head)  # under the loosened recipe
            fork_dataset.deid_recipe = ""  # and the recipe is put back, to match upstream
        ready = world.readiness(number)
        assert ready["ready"] is False
        assert {c["name"]: c["status"] for c in ready["checks"]}["phi-gate"] == "stale"
        assert any("check phi-gate is stale" in r for r in ready["reasons"])
        assert world.merge(number, "olga").status_code == 409


def test_nobody_forges_a_forks_origin_through_commit_metadata(world: World) -> None:
    body = {"message": "pretend", "allow_empty": True, "metadata": {"derived_from": "olga/brain"}}
    forged = world.http.post(f"{DS}/branches/qc/commits", json=body, headers=world.as_("wes"))
    assert forged.status_code == 422
    assert "derived_from are set by ImageHub itself" in forged.text
    merge = {"source": "qc", "destination": "main", "metadata": {"merged_commit": "0" * 64}}
    assert world.http.post(f"{DS}/merges", json=merge, headers=world.as_("wes")).status_code == 422


def test_a_fork_is_audited_and_every_event_of_a_request_carries_the_callers_address(world: World) -> None:
    world.push("main", {"a.dcm": b"v1"})
    with world.platform.sessions() as session:
        before = audit.search(session, limit=10_000)[-1].id
    forked = fork(world)
    grant = {"user": "olga", "role": "read"}
    granted = world.http.put(f"/api/v1/datasets/{forked}/grants", json=grant, headers=world.as_("rita"))
    assert granted.is_success, granted.text
    with world.platform.sessions() as session:
        served = audit.search(session, after=before, limit=1000)  # all recorded while serving requests
    derived = [e for e in served if e.action == "dataset.derive"]
    assert [(e.actor, e.dataset, e.ref, e.details["source"]) for e in derived] == [
        ("rita", forked, "main", "olga/brain")
    ]
    assert "permission.grant" in {e.action for e in served}  # recorded by a service that knows no HTTP
    assert all(e.ip for e in served), [(e.action, e.ip) for e in served if not e.ip]
