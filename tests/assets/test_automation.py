"""The sensor asks for exactly one run per new commit; the schedule re-runs stale code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.events import RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run

from imagehub.core.imaging.synthetic import write_ct_study
from imagehub.services import checks, datasets, imaging
from imagehub.services.pipeline import CODE_VERSIONS, branch_heads, partition_key
from imagehub.services.platform import Platform
from imagehub_assets.automation import CODE_TAG, new_commits, reprocess_stale
from imagehub_assets.partitions import dataset_commits
from tests.assets.conftest import resources_for
from tests.cli.test_cli import run
from tests.conftest import Server
from tests.support.datasets import commit_files
from tests.support.reviewing import screened_under

ROOT = Path(__file__).parents[2]


def _tick(instance: DagsterInstance, platform: Platform) -> SensorResult | SkipReason:
    with build_sensor_context(instance=instance, resources=resources_for(platform)) as context:
        result = new_commits(context)
    if isinstance(result, SensorResult):  # what the daemon would do with the request
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _make_dataset(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="scans", author="tester")


def test_sensor_requests_one_run_per_new_head(platform: Platform, instance: DagsterInstance) -> None:
    _make_dataset(platform)
    first = commit_files(platform, "lab", "scans", "main", {"a.dcm": b"first"})
    result = _tick(instance, platform)
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests] == [partition_key("lab/scans", first.id)]
    assert [r.run_key for r in result.run_requests] == [partition_key("lab/scans", first.id)]
    assert instance.get_dynamic_partitions(dataset_commits.name) == [partition_key("lab/scans", first.id)]

    assert isinstance(_tick(instance, platform), SkipReason)  # nothing new: no run

    with platform.sessions.begin() as session:  # a branch at a known commit is not a new commit
        datasets.repository(session, datasets.get(session, owner="lab", name="scans")).create_branch(
            "copy", "main"
        )
    assert isinstance(_tick(instance, platform), SkipReason)

    second = commit_files(platform, "lab", "scans", "copy", {"b.dcm": b"second"})
    result = _tick(instance, platform)
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests] == [partition_key("lab/scans", second.id)]


def test_sensor_ignores_deleted_datasets(platform: Platform, instance: DagsterInstance) -> None:
    _make_dataset(platform)
    commit_files(platform, "lab", "scans", "main", {"a.dcm": b"first"})
    with platform.sessions.begin() as session:
        datasets.delete(session, owner="lab", name="scans")
    assert isinstance(_tick(instance, platform), SkipReason)


def test_a_changed_deid_policy_screens_branch_heads_again_once(
    platform: Platform, instance: DagsterInstance
) -> None:
    _make_dataset(platform)
    head = commit_files(platform, "lab", "scans", "main", {"a.dcm": b"first"})
    key = partition_key("lab/scans", head.id)
    instance.add_dynamic_partitions(dataset_commits.name, [key])

    def gate_reports() -> None:
        with platform.sessions.begin() as session:
            dataset = datasets.get(session, owner="lab", name="scans")
            checks.report(
                session,
                dataset,
                head.id,
                checks.PHI_GATE,
                status="success",
                reporter=checks.PIPELINE_ACTOR,
                details=screened_under(dataset),
            )

    gate_reports()
    assert isinstance(_tick(instance, platform), SkipReason)
    with platform.sessions.begin() as session:
        datasets.get(
            session, owner="lab", name="scans"
        ).deid_recipe = "FORMAT dicom\n%header\nREMOVE Modality\n"
    result = _tick(instance, platform)
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests] == [key]
    assert [k.to_user_string() for k in result.run_requests[0].asset_selection or []] == ["phi_gate"]
    assert result.run_requests[0].tags["imagehub/reason"] == "deid-policy"
    gate_reports()  # the gate ran under the new policy
    assert isinstance(_tick(instance, platform), SkipReason)


def test_schedule_reruns_partitions_built_by_older_code(
    platform: Platform, instance: DagsterInstance
) -> None:
    _make_dataset(platform)
    old = commit_files(platform, "lab", "scans", "main", {"a.dcm": b"first"})
    current = commit_files(platform, "lab", "scans", "main", {"b.dcm": b"second"})
    keys = [partition_key("lab/scans", c.id) for c in (old, current)]
    instance.add_dynamic_partitions(dataset_commits.name, keys)
    for commit, version in ((old, "0-outdated"), (current, CODE_VERSIONS["instance_metadata"])):
        ref = imaging.resolve_commit(platform, "lab/scans", commit.id)
        imaging.record_materialization(platform, ref, "instance_metadata", version, {}, 0.1)

    with build_schedule_context(instance=instance, resources=resources_for(platform)) as context:
        requests = reprocess_stale(context)
    assert isinstance(requests, list)
    assert [r.partition_key for r in requests] == [keys[0]]
    assert requests[0].tags["imagehub/reason"] == "code-version"
    # the stale asset and what is built from it, not the de-identification or the PHI gate
    selected = [k.to_user_string() for k in requests[0].asset_selection or []]
    assert selected == ["instance_metadata", "nifti_volumes", "series_thumbnails"]

    # The daemon makes the rerun; while it waits in the queue, the next tick asks for nothing.
    instance.add_run(
        DagsterRun(
            job_name="process_commit",
            status=DagsterRunStatus.NOT_STARTED,
            tags={**requests[0].tags, "dagster/partition": keys[0]},
        )
    )
    with build_schedule_context(instance=instance, resources=resources_for(platform)) as context:
        assert isinstance(reprocess_stale(context), SkipReason)

    ref = imaging.resolve_commit(platform, "lab/scans", old.id)
    imaging.record_materialization(
        platform, ref, "instance_metadata", CODE_VERSIONS["instance_metadata"], {}, 0.1
    )
    with build_schedule_context(instance=instance, resources=resources_for(platform)) as context:
        assert isinstance(reprocess_stale(context), SkipReason)

    # Built by a later version, then the code is rolled back: a change again, so a rerun.
    imaging.record_materialization(platform, ref, "instance_metadata", "9-newer", {}, 0.1)
    with build_schedule_context(instance=instance, resources=resources_for(platform)) as context:
        rollback = reprocess_stale(context)
    assert isinstance(rollback, list)
    assert [r.partition_key for r in rollback] == [keys[0]]
    assert rollback[0].tags[CODE_TAG] != requests[0].tags[CODE_TAG]

    # That rerun ran; the partition was later built by "9-newer" again (a redeploy): the same
    # pair of versions, but a newer build, so it is asked for once more.
    instance.add_run(
        DagsterRun(
            job_name="process_commit",
            status=DagsterRunStatus.SUCCESS,
            tags={**rollback[0].tags, "dagster/partition": keys[0]},
        )
    )
    imaging.record_materialization(platform, ref, "instance_metadata", "9-newer", {}, 0.1)
    with build_schedule_context(instance=instance, resources=resources_for(platform)) as context:
        again = reprocess_stale(context)
    assert isinstance(again, list)
    assert [r.partition_key for r in again] == [keys[0]]
    assert again[0].tags[CODE_TAG] not in (rollback[0].tags[CODE_TAG], requests[0].tags[CODE_TAG])


def test_cli_ingest_ends_in_a_commit_the_sensor_picks_up(
    server: Server, platform: Platform, instance: DagsterInstance, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    write_ct_study(export, series=1, slices=3, rows=64, columns=64)
    result = run(
        ["ingest", str(export), "--dataset", "lab/ct", "--url", server.url, "--purpose", "research import"],
        {**os.environ, "IMAGEHUB_TOKEN": server.token, "IMAGEHUB_CONFIG_DIR": str(tmp_path / "config")},
    )
    assert result.returncode == 0, result.stderr
    heads = [h for h in branch_heads(platform) if h.dataset == "lab/ct"]
    assert [h.branch for h in heads] == ["raw"]
    requested = _tick(instance, platform)
    assert isinstance(requested, SensorResult)
    assert [r.partition_key for r in requested.run_requests] == [heads[0].partition_key]


@pytest.mark.parametrize("config", [ROOT / "dagster.yaml", ROOT / "deploy" / "dagster" / "dagster.yaml"])
def test_a_run_cut_short_runs_again_and_a_failed_asset_waits(config: Path) -> None:
    """What the daemon asks before it launches a retry, under the shipped instance files."""
    settings = yaml.safe_load(config.read_text())["run_retries"]
    assert settings == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
    with instance_for_test(overrides={"run_retries": settings}) as instance:
        run = instance.add_run(DagsterRun(job_name="process_commit", status=DagsterRunStatus.FAILURE))
        assert auto_reexecution_should_retry_run(instance, run, RunFailureReason.UNEXPECTED_TERMINATION)
        assert not auto_reexecution_should_retry_run(instance, run, RunFailureReason.STEP_FAILURE)
