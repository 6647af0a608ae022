"""A raw commit becomes a commit on the de-identified branch: nothing identifying survives."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydicom.data import get_testdata_file
from sqlalchemy import select

from imagehub.core.compute.local import LocalExecutor
from imagehub.core.vcs import RefKind
from imagehub.models import dataset as dataset_queries
from imagehub.models.deid import ReidMap
from imagehub.services import access, audit, datasets, deid, imaging
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.phi_corpus import PhiCorpus, write_phi_corpus

DS = "/api/v1/datasets/lab/scans"


@pytest.fixture
def corpus(tmp_path: Path) -> PhiCorpus:
    return write_phi_corpus(tmp_path / "corpus", instances=8, seed=3)


def _raw_commit(platform: Platform, corpus: PhiCorpus, *, keep_map: bool = False) -> str:
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="scans", author="lab")
        dataset.deid_keep_map = keep_map
        dataset.deid_ocr = "none"
        dataset.deid_profile = "basic"  # research keeps device identity (station names) on purpose
        datasets.repository(session, dataset).create_branch("raw", "main")
    files: dict[str, bytes | None] = {
        f"DOE_JOHN/{p.relative_to(p.parents[1]).as_posix()}": p.read_bytes() for p in corpus.paths
    }
    files["notes/README.txt"] = b"export of John Doe's scans"
    files["broken.dcm"] = Path(get_testdata_file("CT_small.dcm")).read_bytes()[:900]
    return commit_files(platform, "lab", "scans", "raw", files).id


def _run(platform: Platform, commit_id: str) -> deid.DeidSummary:
    ref = imaging.resolve_commit(platform, "lab/scans", commit_id)
    return deid.deidentify_commit(platform, LocalExecutor(), ref)


def _all_output_bytes(platform: Platform, commit_id: str) -> bytes:
    with platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        entries = list(repo.tree.iterate(repo.resolve(commit_id).tree))
    return b"".join(
        b"".join(platform.store.get(f"blobs/{e.blob[:2]}/{e.blob[2:4]}/{e.blob}")) for e in entries
    )


def test_raw_commit_becomes_a_clean_commit_with_lineage(platform: Platform, corpus: PhiCorpus) -> None:
    raw = _raw_commit(platform, corpus)
    done = _run(platform, raw)
    assert (done.instances, done.failed) == (len(corpus.paths), 2)
    assert done.output_commit is not None

    with platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        output = repo.resolve("deidentified")
        history = repo.log("deidentified")
        paths = [e.path for e in repo.tree.iterate(output.tree)]
    assert output.id == done.output_commit
    assert output.metadata["deidentified_from"] == raw
    assert raw not in {c.id for c in history}  # no raw commit in the branch's history
    assert len(history) == 2  # its own empty root, then the de-identified commit
    assert not any("DOE" in p or "JOHN" in p for p in paths)  # raw paths can carry names too

    blob_bytes = _all_output_bytes(platform, done.output_commit)
    leaked = [s for s in corpus.sentinels if s.encode() in blob_bytes]
    assert leaked == []

    report = deid.report(platform, _dataset_id(platform), done.output_commit)
    assert report["source_commit"] == raw
    assert len(report["instances"]) == len(corpus.paths)
    assert {f["kind"] for f in report["failed"]} == {"other", "dicom"}
    text = str(report)
    assert not [s for s in corpus.sentinels if s in text]
    assert "DOE_JOHN" not in text

    # A second run over the same raw commit is reproducible (same UIDs, same output tree),
    # so it makes no new commit for the pipeline's sensor to process again.
    again = _run(platform, raw)
    assert again.output_commit == output.id
    with platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        assert [c.id for c in repo.log("deidentified")] == [c.id for c in history]


def _dataset_id(platform: Platform) -> int:
    with platform.sessions() as session:
        found = dataset_queries.get_live(session, owner="lab", name="scans")
        assert found is not None
        return found.id


def test_commits_on_ordinary_branches_are_not_deidentified(platform: Platform, corpus: PhiCorpus) -> None:
    _raw_commit(platform, corpus)
    main = commit_files(platform, "lab", "scans", "main", {"a.dcm": corpus.paths[0].read_bytes()})
    done = _run(platform, main.id)
    assert done.output_commit is None
    assert "raw (PHI) branch" in done.skipped_reason
    with platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        assert repo.stores.refs.get("deidentified", RefKind.BRANCH) is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reidentification_map_is_sealed_admin_only_and_audited(platform: Platform, corpus: PhiCorpus) -> None:
    owner = make_user(platform, "lab")  # before the datasets that will live under the name
    raw = _raw_commit(platform, corpus, keep_map=True)
    done = _run(platform, raw)
    with platform.sessions() as session:
        sealed = session.scalars(select(ReidMap)).one().sealed
    assert b"DOE_JOHN" not in sealed
    assert not [s for s in corpus.sentinels if s.encode() in sealed]

    reader = make_user(platform, "reader")
    with platform.sessions.begin() as session:
        access.grant(
            session,
            dataset=datasets.get(session, owner="lab", name="scans"),
            role="read",
            actor="lab",
            username="reader",
        )
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        url = f"{DS}/deid/reid-map"
        params = {"commit": done.output_commit or ""}
        assert (
            http.get(url, params=params, headers=bearer(reader) | {"X-Purpose-Of-Use": "audit"}).status_code
            == 403
        )
        assert http.get(url, params=params, headers=bearer(owner)).status_code == 422  # purpose required
        opened = http.get(url, params=params, headers=bearer(owner) | {"X-Purpose-Of-Use": "recontact study"})
        assert opened.status_code == 200, opened.text
        sources = {v["source_path"] for v in opened.json().values()}
        assert all(s.startswith("DOE_JOHN/") for s in sources)
        assert len(sources) == len(corpus.paths)
        # The report is for readers; it names outputs only.
        shown = http.get(f"{DS}/deid/report", params=params, headers=bearer(reader))
        assert shown.status_code == 200
        assert "DOE_JOHN" not in shown.text
    with platform.sessions() as session:
        reads = audit.search(session, action="deid.reid_map.read", dataset="lab/scans")
    assert [(e.actor, e.purpose) for e in reads] == [("lab", "recontact study")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_same_instance_under_two_paths_is_one_output(platform: Platform, corpus: PhiCorpus) -> None:
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="scans", author="lab")
        dataset.deid_ocr = "none"
        datasets.repository(session, dataset).create_branch("raw", "main")
    same = corpus.paths[0].read_bytes()
    raw = commit_files(platform, "lab", "scans", "raw", {"a/1.dcm": same, "copy/1.dcm": same})
    done = _run(platform, raw.id)
    assert (done.instances, done.failed) == (1, 1)
    report = deid.report(platform, _dataset_id(platform), done.output_commit or "")
    assert [f["reason"] for f in report["failed"]] == ["duplicate: another file is the same instance"]
