"""The whole review flow of issue 9 on a live server with the real pipeline:
open → checks run → the PHI gate blocks a leaky change → a fix is pushed → checks pass →
approval → merge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, instance_for_test, materialize

from imagehub.core.vcs import Commit
from imagehub.services import access, audit, checks, datasets
from imagehub.services.deid_local import deidentify_folder
from imagehub.services.pipeline import partition_key
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from imagehub_assets.assets import ASSETS
from imagehub_assets.partitions import dataset_commits
from tests.assets.conftest import resources_for
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.phi_corpus import write_phi_corpus

DS = "/api/v1/datasets/lab/atlas"
PROPOSALS = f"{DS}/proposals"


def run_pipeline(platform: Platform, instance: DagsterInstance, commit: Commit) -> None:
    """What the sensor starts for every new branch head."""
    key = partition_key("lab/atlas", commit.id)
    instance.add_dynamic_partitions(dataset_commits.name, [key])
    result = materialize(ASSETS, partition_key=key, instance=instance, resources=resources_for(platform))
    assert result.success


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as local:
        yield local


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_open_check_block_fix_approve_merge(
    platform: Platform, instance: DagsterInstance, tmp_path: Path
) -> None:
    tokens = {name: make_user(platform, name) for name in ("lab", "wes", "rita")}
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="atlas", author="lab", visibility="internal")
        dataset.deid_ocr = "none"  # pixels are covered by the OCR tests; this flow is about the gate
        for name in ("wes", "rita"):
            access.grant(session, dataset=dataset, role="write", actor="lab", username=name)
        datasets.repository(session, dataset).create_branch("curation", "main")
    corpus = write_phi_corpus(tmp_path / "leaky", instances=3, seed=9)
    leaky = commit_files(
        platform, "lab", "atlas", "curation", {f"ct/{p.name}": p.read_bytes() for p in corpus.paths}, "Add CT"
    )

    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:

        def as_(who: str) -> dict[str, str]:
            return bearer(tokens[who])

        protect = {"protected": True, "required_approvals": 1}
        assert http.put(f"{DS}/branches/main/protection", json=protect, headers=as_("lab")).status_code == 200
        body = {"source": "curation", "target": "main", "title": "Add the CT cohort"}
        opened = http.post(PROPOSALS, json=body, headers=as_("wes"))
        assert opened.status_code == 201, opened.text
        number = opened.json()["number"]

        # The pipeline runs on the proposal's head and reports its three checks.
        run_pipeline(platform, instance, leaky)
        ready = http.get(f"{PROPOSALS}/{number}/readiness", headers=as_("rita")).json()
        statuses = {c["name"]: c["status"] for c in ready["checks"]}
        assert statuses == {"metadata-complete": "success", "thumbnails": "success", "phi-gate": "failure"}
        assert (
            http.post(
                f"{PROPOSALS}/{number}/reviews", json={"verdict": "approve"}, headers=as_("rita")
            ).status_code
            == 201
        )

        # Approved, but the PHI gate blocks the merge and links its report.
        blocked = http.post(f"{PROPOSALS}/{number}/merge", json={}, headers=as_("wes"))
        assert blocked.status_code == 409
        [gate] = blocked.json()["blocking_checks"]
        assert gate["name"] == "phi-gate"
        assert gate["report"] == f"/lab/atlas/commits/{leaky.id}/checks/phi-gate"
        report = http.get(f"{DS}/commits/{leaky.id}/checks/phi-gate", headers=as_("rita")).json()
        assert report["status"] == "failure"
        assert set(report["details"]["files"]) == {f"ct/{p.name}" for p in corpus.paths}
        assert not any(s.upper() in str(report).upper() for s in corpus.sentinels)  # names no PHI
        page = http.get(f"/lab/atlas/commits/{leaky.id}/checks/phi-gate", headers=as_("rita"))
        assert page.status_code == 200  # the portal page the link opens

        # The fix: the same instances de-identified, pushed to the same branch.
        clean = tmp_path / "clean"
        deidentify_folder(tmp_path / "leaky", clean, profile="research", ocr="none", secret="flow test")
        fixed_files: dict[str, bytes | None] = {f"ct/{p.name}": None for p in corpus.paths}
        fixed_files.update({f"ct/{p.name}": p.read_bytes() for p in sorted(clean.rglob("*.dcm"))})
        fixed = commit_files(platform, "lab", "atlas", "curation", fixed_files, "De-identify the CT")
        run_pipeline(platform, instance, fixed)
        ready = http.get(f"{PROPOSALS}/{number}/readiness", headers=as_("rita")).json()
        assert ready["head"] == fixed.id
        assert all(c["status"] == "success" for c in ready["checks"])
        assert ready["approvals"]["stale"] == ["rita"]  # she approved data that is gone now
        assert not ready["ready"]

        assert (
            http.post(
                f"{PROPOSALS}/{number}/reviews", json={"verdict": "approve"}, headers=as_("rita")
            ).status_code
            == 201
        )
        merged = http.post(f"{PROPOSALS}/{number}/merge", json={}, headers=as_("wes"))
        assert merged.status_code == 200, merged.text
        assert merged.json()["state"] == "merged"
        main = http.get(f"{DS}/commits/main", headers=as_("lab")).json()
        assert main["id"] == merged.json()["merged_commit"]
        assert main["parents"][1] == fixed.id  # exactly the commit that was checked and approved
        listed = http.get(f"{DS}/refs/main/objects", params={"prefix": "ct/"}, headers=as_("lab")).json()
        clean_names = {f"ct/{p.name}" for p in clean.rglob("*.dcm")}
        assert {o["path"] for o in listed["results"]} == clean_names

    with platform.sessions() as session:
        actions = [e.action for e in audit.search(session, dataset="lab/atlas", limit=1000)]
        reported = [e for e in audit.search(session, action="check.report", dataset="lab/atlas", limit=100)]
    for action in ("proposal.create", "proposal.review", "proposal.merge", "branch.protection"):
        assert action in actions
    assert {e.actor for e in reported} == {checks.PIPELINE_ACTOR}
