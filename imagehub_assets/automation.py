"""What starts runs: a sensor for new commits, a schedule for stale code versions.

Pushing to a dataset is all a user does. The sensor turns every new branch head into
a partition and exactly one run (the run key is the partition key); the schedule
re-runs partitions whose assets were built by an older code version.
"""

import hashlib
import json
from collections.abc import Iterable

from dagster import (
    AssetKey,
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

from imagehub.services import checks
from imagehub.services.pipeline import CODE_VERSIONS, new_partitions, stale_partitions
from imagehub_assets.assets import ASSETS, GROUP, phi_gate
from imagehub_assets.partitions import DATASET_COMMITS, dataset_commits
from imagehub_assets.resources import ImageHubResource

# In one process: Ray starts once per run, not once per step.
process_commit = define_asset_job(
    "process_commit",
    selection=AssetSelection.groups(GROUP),
    executor_def=in_process_executor,
)

CODE_TAG = "imagehub/code"  # which code versions a rerun replaced by which
PARTITION_TAG = "dagster/partition"  # set by Dagster on every partitioned run
REASON_TAG = "imagehub/reason"


def _known(context: SensorEvaluationContext | ScheduleEvaluationContext) -> set[str]:
    return set(context.instance.get_dynamic_partitions(DATASET_COMMITS))


@sensor(job=process_commit, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def new_commits(context: SensorEvaluationContext, imagehub: ImageHubResource) -> SensorResult | SkipReason:
    """Watches every dataset branch; each new head commit gets a partition and one run. A
    head whose PHI gate ran under a de-identification policy its dataset has since changed
    is screened again (the gate alone), once per policy."""
    platform = imagehub.platform()
    known = _known(context)
    fresh = new_partitions(platform, known)
    again = checks.rescreens(platform, known)
    if not fresh and not again:
        return SkipReason("no new commits on any dataset branch, and no PHI gate to run again")
    return SensorResult(
        run_requests=[RunRequest(partition_key=key, run_key=key) for key in fresh]
        + [
            RunRequest(
                partition_key=r.partition_key,
                run_key=r.run_key,
                asset_selection=[phi_gate.key],
                tags={REASON_TAG: "deid-policy"},
            )
            for r in again
        ],
        dynamic_partitions_requests=[dataset_commits.build_add_request(fresh)] if fresh else [],
    )


@schedule(job=process_commit, cron_schedule="17 * * * *", default_status=DefaultScheduleStatus.RUNNING)
def reprocess_stale(
    context: ScheduleEvaluationContext, imagehub: ImageHubResource
) -> list[RunRequest] | SkipReason:
    """Hourly: re-run the assets of every partition built by an older code version, once per
    change of versions. Dagster drops a repeated run key only within one tick, so partitions
    whose rerun is already queued, running or done are left out here: a backlog waiting in
    the queue is not queued again every hour, and a failed rerun waits for a person. Only
    the stale assets run: a rerun of thumbnails makes no new de-identified commit."""
    stale = stale_partitions(imagehub.platform(), CODE_VERSIONS, _known(context))
    changes = {key: _change(built) for key, built in stale.items()}
    done = _rerun(context)
    requests = [
        RunRequest(
            partition_key=key,
            run_key=f"{key}:{changes[key]}",
            asset_selection=_with_downstream(built),
            tags={REASON_TAG: "code-version", CODE_TAG: changes[key]},
        )
        for key, built in stale.items()
        if (key, changes[key]) not in done
    ]
    return requests or SkipReason("every partition is up to date with the pipeline's code, or has its rerun")


def _with_downstream(assets: Iterable[str]) -> list[AssetKey]:
    """The assets and every asset built from them: new metadata means new thumbnails."""
    children: dict[AssetKey, set[AssetKey]] = {}
    for definition in ASSETS:
        for parent in definition.dependency_keys:
            children.setdefault(parent, set()).update(definition.keys)
    chosen: set[AssetKey] = set()
    waiting = [AssetKey(asset) for asset in assets]
    while waiting:
        key = waiting.pop()
        if key not in chosen:
            chosen.add(key)
            waiting.extend(children.get(key, ()))
    return sorted(chosen, key=lambda key: key.to_user_string())


def _change(built: dict[str, str]) -> str:
    """The builds a rerun replaces and the versions it brings: a rollback is a change too,
    and so is a later return to a version (its builds are newer)."""
    pairs = {asset: [old, CODE_VERSIONS[asset]] for asset, old in built.items()}
    return hashlib.sha256(json.dumps(pairs, sort_keys=True).encode()).hexdigest()[:12]


def _rerun(context: ScheduleEvaluationContext) -> set[tuple[str, str]]:
    """(partition, change) pairs that have a rerun, whatever its status: one query."""
    runs = context.instance.get_runs(filters=RunsFilter(tags={REASON_TAG: "code-version"}))
    return {
        (key, change)
        for run in runs
        if (key := run.tags.get(PARTITION_TAG)) is not None and (change := run.tags.get(CODE_TAG)) is not None
    }
