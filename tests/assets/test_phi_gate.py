"""The phi_gate asset: the pipeline scans a commit for PHI and reports the phi-gate check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize

from imagehub.core.vcs import Commit
from imagehub.services import checks, datasets
from imagehub.services.phi_gate import CACHE_PREFIX
from imagehub.services.pipeline import partition_key
from imagehub.services.platform import Platform
from imagehub_assets.assets import ASSETS
from imagehub_assets.definitions import defs
from imagehub_assets.partitions import dataset_commits
from tests.assets.conftest import resources_for
from tests.support.datasets import commit_files
from tests.support.phi_corpus import PATIENTS, write_phi_corpus


def _dataset(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="scans", author="tester")
        dataset.deid_ocr = "none"
        datasets.repository(session, dataset).create_branch("raw", "main")


def _run(platform: Platform, instance: DagsterInstance, commit: Commit) -> dict[str, bool]:
    """Materialise the whole pipeline for the commit; the Dagster checks' outcomes by name."""
    key = partition_key("lab/scans", commit.id)
    instance.add_dynamic_partitions(dataset_commits.name, [key])
    result = materialize(ASSETS, partition_key=key, instance=instance, resources=resources_for(platform))
    assert result.success
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _phi_gate(platform: Platform, commit_id: str) -> dict[str, Any]:
    with platform.sessions() as session:
        dataset = datasets.get(session, owner="lab", name="scans")
        row = checks.result(session, dataset, commit_id, checks.PHI_GATE)
        assert row is not None, "phi-gate was not reported"
        return checks.result_dict(row, with_details=True)


def _latest_counts(instance: DagsterInstance) -> dict[str, object]:
    records = instance.fetch_materializations(AssetKey("phi_gate"), limit=1).records
    materialization = records[0].asset_materialization
    assert materialization is not None
    return {name: value.value for name, value in materialization.metadata.items()}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_leaky_commit_fails_the_phi_gate_and_its_deidentified_commit_passes(
    platform: Platform, instance: DagsterInstance, tmp_path: Path
) -> None:
    _dataset(platform)
    corpus = write_phi_corpus(tmp_path / "corpus", instances=4, seed=5)
    files: dict[str, bytes | None] = {f"scans/{p.name}": p.read_bytes() for p in corpus.paths}
    files["notes/README.txt"] = b"export notes, not imaging\n"
    files["broken/truncated.dcm"] = corpus.paths[0].read_bytes()[:600]
    raw = commit_files(platform, "lab", "scans", "raw", files)

    assert _run(platform, instance, raw)["no_phi_found"] is False
    found = _phi_gate(platform, raw.id)
    assert (found["status"], found["reported_by"]) == ("failure", checks.PIPELINE_ACTOR)
    details = found["details"]
    assert details["counts"]["dicom"] == 5
    assert details["counts"]["other"] == 1
    assert details["counts"]["flagged"] == 5
    assert found["summary"].startswith(f"{details['counts']['findings']} finding(s) in 5 of 6 file(s)")
    assert "1 file(s) neither DICOM nor NIfTI, not scanned" in found["summary"]
    assert set(details["files"]) == {p for p in files if p.endswith(".dcm")}
    leaky = details["files"]["scans/" + corpus.paths[0].name]
    assert leaky["total"] > len(leaky["findings"])  # capped per file
    assert all(set(finding) == {"kind", "where", "detail"} for finding in leaky["findings"])
    assert leaky["findings"][0]["kind"] == "text"  # free text with names is listed before UIDs and dates
    assert details["files"]["broken/truncated.dcm"]["findings"][0]["where"] == "file"
    report = json.dumps(found).upper()
    identifying = set(corpus.sentinels) | {
        value for name, pid, *_ in PATIENTS for value in (pid, *name.split("^"))
    }
    assert [value for value in identifying if value.upper() in report] == []

    # The pipeline de-identified the raw commit into a commit of its own: that one passes.
    with platform.sessions() as session:
        output = datasets.repository(session, datasets.get(session, owner="lab", name="scans")).resolve(
            "deidentified"
        )
    assert _run(platform, instance, output)["no_phi_found"] is True
    passed = _phi_gate(platform, output.id)
    assert passed["status"] == "success"
    assert passed["summary"] == "no PHI found in 4 DICOM or NIfTI file(s)"
    assert passed["details"]["files"] == {}


def test_the_gate_scans_only_what_it_has_not_scanned_under_the_same_policy(
    platform: Platform, instance: DagsterInstance, tmp_path: Path
) -> None:
    _dataset(platform)
    corpus = write_phi_corpus(tmp_path / "corpus", instances=3, seed=6)
    first = commit_files(platform, "lab", "scans", "main", {p.name: p.read_bytes() for p in corpus.paths[:2]})
    _run(platform, instance, first)
    assert (_latest_counts(instance)["scanned"], _latest_counts(instance)["reused"]) == (2, 0)

    second = commit_files(
        platform, "lab", "scans", "main", {corpus.paths[2].name: corpus.paths[2].read_bytes()}
    )
    _run(platform, instance, second)
    figures = _latest_counts(instance)
    assert (figures["files"], figures["scanned"], figures["reused"], figures["flagged"]) == (3, 1, 2, 3)
    assert _phi_gate(platform, second.id)["status"] == "failure"

    with platform.sessions.begin() as session:  # another policy: its own results
        datasets.get(session, owner="lab", name="scans").deid_profile = "basic"
    third = commit_files(platform, "lab", "scans", "main", {"notes.txt": b"notes"})
    _run(platform, instance, third)
    figures = _latest_counts(instance)
    assert (figures["scanned"], figures["reused"]) == (4, 0)
    assert len(list(platform.store.list(CACHE_PREFIX))) == 3 + 4


def test_the_sensors_job_runs_the_phi_gate() -> None:
    layer = defs.resolve_job_def("process_commit").asset_layer
    assert AssetKey("phi_gate") in layer.selected_asset_keys
    assert AssetCheckKey(AssetKey("phi_gate"), "no_phi_found") in layer.asset_graph.asset_check_keys
