"""What starts runs: a sensor for new commits, a schedule for stale code versions.

Pushing to a dataset is all a user does. The sensor turns every new branch head into
a partition and exactly one run (the run key is the partition key); the schedule
re-runs partitions whose assets were built by an older code version.
"""

import hashlib
import json

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
)

from imagehub.services.pipeline import CODE_VERSIONS, new_partitions, stale_partitions
from imagehub_assets.assets import GROUP
from imagehub_assets.partitions import DATASET_COMMITS, dataset_commits
from imagehub_assets.resources import ImageHubResource

# In one process: Ray starts once per run, not once per step.
process_commit = define_asset_job(
    "process_commit",
    selection=AssetSelection.groups(GROUP),
    executor_def=in_process_executor,
)

CODE_TAG = "imagehub/code"  # the code fingerprint a rerun was requested for
PARTITION_TAG = "dagster/partition"  # set by Dagster on every partitioned run
CODE_FINGERPRINT = hashlib.sha256(json.dumps(CODE_VERSIONS, sort_keys=True).encode()).hexdigest()[:12]


def _known(context: SensorEvaluationContext | ScheduleEvaluationContext) -> set[str]:
    return set(context.instance.get_dynamic_partitions(DATASET_COMMITS))


@sensor(job=process_commit, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def new_commits(context: SensorEvaluationContext, imagehub: ImageHubResource) -> SensorResult | SkipReason:
    """Watches every dataset branch; each new head commit gets a partition and one run."""
    fresh = new_partitions(imagehub.platform(), _known(context))
    if not fresh:
        return SkipReason("no new commits on any dataset branch")
    return SensorResult(
        run_requests=[RunRequest(partition_key=key, run_key=key) for key in fresh],
        dynamic_partitions_requests=[dataset_commits.build_add_request(fresh)],
    )


@schedule(job=process_commit, cron_schedule="17 * * * *", default_status=DefaultScheduleStatus.RUNNING)
def reprocess_stale(
    context: ScheduleEvaluationContext, imagehub: ImageHubResource
) -> list[RunRequest] | SkipReason:
    """Hourly: re-run every partition built by an older code version of any asset, once per
    code version. Dagster drops a repeated run key only within one tick, so partitions
    whose rerun is already queued, running or done are left out here: a backlog waiting
    in the queue is not queued again every hour, and a failed rerun waits for a person."""
    stale = set(stale_partitions(imagehub.platform(), CODE_VERSIONS, _known(context))) - _rerun(context)
    if not stale:
        return SkipReason("every partition is up to date with the pipeline's code, or has its rerun")
    return [
        RunRequest(
            partition_key=key,
            run_key=f"{key}:{CODE_FINGERPRINT}",
            tags={"imagehub/reason": "code-version", CODE_TAG: CODE_FINGERPRINT},
        )
        for key in sorted(stale)
    ]


def _rerun(context: ScheduleEvaluationContext) -> set[str]:
    """Partitions that have a rerun for the current code version, whatever its status."""
    runs = context.instance.get_runs(filters=RunsFilter(tags={CODE_TAG: CODE_FINGERPRINT}))
    return {key for run in runs if (key := run.tags.get(PARTITION_TAG)) is not None}
