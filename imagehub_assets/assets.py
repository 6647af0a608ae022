"""Software-defined assets, one partition per dataset commit.

raw_commit → instance_metadata → series_thumbnails / nifti_volumes, and from raw_commit
also deidentified_commit and phi_gate (the de-identification verification). Each asset hands
the commit to an ImageHub service, records what it did (counts, failures, timings)
against the commit in ImageHub's database, and returns the same figures as Dagster
metadata, so the UI shows which commit every artefact came from.
"""

import time
from collections.abc import Callable
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from imagehub.core.errors import NotFound
from imagehub.services import checks, deid, imaging
from imagehub.services.imaging import CommitRef, Completeness, StepSummary
from imagehub.services.phi_gate import verify_commit
from imagehub.services.pipeline import CODE_VERSIONS, commit_ref
from imagehub_assets.partitions import dataset_commits
from imagehub_assets.resources import ImageHubResource, RayResource

GROUP = "imaging"


def _progress(context: AssetExecutionContext, what: str) -> Callable[[int, int], None]:
    """Log progress about every tenth of the way, not per batch."""
    last = [-1]

    def report(done: int, total: int) -> None:
        tenth = (10 * done) // max(total, 1)
        if tenth != last[0]:
            last[0] = tenth
            context.log.info(f"{what}: {done}/{total}")

    return report


def _commit(context: AssetExecutionContext, imagehub: ImageHubResource) -> CommitRef:
    """The partition's commit. A run requested before its dataset was deleted (or the
    commit collected) stops at once with one line saying so, and is not retried."""
    try:
        return commit_ref(imagehub.platform(), context.partition_key)
    except NotFound as exc:
        raise Failure(
            description=f"nothing to build for {context.partition_key}: {exc}; "
            "it went after the run was requested",
            allow_retries=False,
        ) from None


def _metadata(ref: CommitRef, figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "dataset": ref.dataset,
        "commit": ref.commit_id,
        **{name: value for name, value in figures.items() if not isinstance(value, dict)},
        **{name: MetadataValue.json(value) for name, value in figures.items() if isinstance(value, dict)},
    }


def _finish(
    context: AssetExecutionContext, hub: ImageHubResource, ref: CommitRef, summary: StepSummary
) -> dict[str, Any]:
    name = context.asset_key.to_user_string()
    imaging.record_materialization(
        hub.platform(), ref, name, CODE_VERSIONS[name], summary.as_dict(), summary.seconds
    )
    return _metadata(
        ref, {**summary.counts, "seconds": round(summary.seconds, 3), "failures": summary.failures}
    )


def _check(
    hub: ImageHubResource, ref: CommitRef, name: str, required: str, found: Completeness, unit: str
) -> AssetCheckResult:
    """The completeness as a Dagster asset check and as ImageHub's required check ``required``."""
    checks.report_from_pipeline(
        hub.platform(),
        ref,
        required,
        passed=found.complete,
        summary=f"{found.present} of {found.expected} {unit} done",
        details={"expected": found.expected, "present": found.present, "missing": found.missing},
    )
    return AssetCheckResult(
        check_name=name,
        passed=found.complete,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "expected": found.expected,
            "present": found.present,
            "missing": MetadataValue.json(found.missing),
        },
    )


@asset(
    partitions_def=dataset_commits,
    code_version=CODE_VERSIONS["raw_commit"],
    group_name=GROUP,
    kinds={"imagehub"},
)
def raw_commit(context: AssetExecutionContext, imagehub: ImageHubResource) -> MaterializeResult:  # type: ignore[type-arg]
    """The dataset commit as pushed: its author, message, files and bytes."""
    started = time.perf_counter()
    ref = _commit(context, imagehub)
    described = imaging.describe_commit(imagehub.platform(), ref)
    summary = StepSummary(
        counts={"files": described["files"], "bytes": described["bytes"]},
        seconds=time.perf_counter() - started,
    )
    metadata = _finish(context, imagehub, ref, summary)
    metadata.update(
        author=described["author"], message=described["message"], created_at=described["created_at"]
    )
    return MaterializeResult(metadata=metadata)


@asset(
    partitions_def=dataset_commits,
    deps=[raw_commit],
    code_version=CODE_VERSIONS["instance_metadata"],
    group_name=GROUP,
    kinds={"dicom", "nifti"},
    check_specs=[AssetCheckSpec("every_file_has_metadata", asset="instance_metadata")],
)
def instance_metadata(
    context: AssetExecutionContext, imagehub: ImageHubResource, ray: RayResource
) -> MaterializeResult:  # type: ignore[type-arg]
    """Per-instance header metadata in ImageHub's database (the basis of search), and series."""
    ref = _commit(context, imagehub)
    summary = imaging.index_metadata(imagehub.platform(), ray.executor(), ref, _progress(context, "metadata"))
    for path, reason in summary.failures.items():
        context.log.warning(f"{path}: {reason}")
    return MaterializeResult(
        metadata=_finish(context, imagehub, ref, summary),
        check_results=[
            _check(
                imagehub,
                ref,
                "every_file_has_metadata",
                checks.METADATA,
                imaging.metadata_completeness(imagehub.platform(), ref),
                "files",
            )
        ],
    )


@asset(
    partitions_def=dataset_commits,
    deps=[instance_metadata],
    code_version=CODE_VERSIONS["series_thumbnails"],
    group_name=GROUP,
    kinds={"png"},
    check_specs=[AssetCheckSpec("every_series_has_a_thumbnail", asset="series_thumbnails")],
)
def series_thumbnails(
    context: AssetExecutionContext, imagehub: ImageHubResource, ray: RayResource
) -> MaterializeResult:  # type: ignore[type-arg]
    """A windowed PNG of the middle slice of every series and NIfTI volume."""
    ref = _commit(context, imagehub)
    summary = imaging.render_series_thumbnails(
        imagehub.platform(), ray.executor(), ref, _progress(context, "thumbnails")
    )
    return MaterializeResult(
        metadata=_finish(context, imagehub, ref, summary),
        check_results=[
            _check(
                imagehub,
                ref,
                "every_series_has_a_thumbnail",
                checks.THUMBNAILS,
                imaging.thumbnail_completeness(imagehub.platform(), ref),
                "series",
            )
        ],
    )


@asset(
    partitions_def=dataset_commits,
    deps=[instance_metadata],
    code_version=CODE_VERSIONS["nifti_volumes"],
    group_name=GROUP,
    kinds={"nifti"},
)
def nifti_volumes(
    context: AssetExecutionContext, imagehub: ImageHubResource, ray: RayResource
) -> MaterializeResult:  # type: ignore[type-arg]
    """Every DICOM series as a NIfTI volume with its geometry, ready for training."""
    ref = _commit(context, imagehub)
    summary = imaging.convert_series_to_nifti(
        imagehub.platform(), ray.executor(), ref, _progress(context, "nifti")
    )
    return MaterializeResult(metadata=_finish(context, imagehub, ref, summary))


@asset(
    partitions_def=dataset_commits,
    deps=[raw_commit],
    code_version=CODE_VERSIONS["deidentified_commit"],
    group_name=GROUP,
    kinds={"dicom"},
    check_specs=[
        AssetCheckSpec("every_file_deidentified", asset="deidentified_commit"),
        AssetCheckSpec("no_instance_awaits_review", asset="deidentified_commit"),
    ],
)
def deidentified_commit(
    context: AssetExecutionContext, imagehub: ImageHubResource, ray: RayResource
) -> MaterializeResult:  # type: ignore[type-arg]
    """A raw branch's commit de-identified into a commit on the dataset's de-identified branch."""
    ref = _commit(context, imagehub)
    done = deid.deidentify_commit(imagehub.platform(), ray.executor(), ref, _progress(context, "de-identify"))
    counts = {"instances": done.instances, "failed": done.failed, "needs_review": done.needs_review}
    summary = StepSummary(counts=counts, seconds=done.seconds)
    metadata = _finish(context, imagehub, ref, summary)
    metadata["deidentified_commit"] = done.output_commit or ""
    metadata["skipped"] = done.skipped_reason
    checked = not done.skipped_reason
    return MaterializeResult(
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name="every_file_deidentified",
                passed=done.failed == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={"failed": done.failed, "checked": checked},
            ),
            AssetCheckResult(
                check_name="no_instance_awaits_review",
                passed=done.needs_review == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={"needs_review": done.needs_review, "checked": checked},
            ),
        ],
    )


@asset(
    partitions_def=dataset_commits,
    deps=[raw_commit],
    code_version=CODE_VERSIONS["phi_gate"],
    group_name=GROUP,
    kinds={"dicom", "nifti"},
    check_specs=[AssetCheckSpec("no_phi_found", asset="phi_gate")],
)
def phi_gate(
    context: AssetExecutionContext, imagehub: ImageHubResource, ray: RayResource
) -> MaterializeResult:  # type: ignore[type-arg]
    """Every DICOM and NIfTI file scanned for PHI under the dataset's policy: ImageHub's
    required check phi-gate, which merges into shared branches and releases wait for."""
    ref = _commit(context, imagehub)
    found = verify_commit(imagehub.platform(), ray.executor(), ref, _progress(context, "PHI gate"))
    summary = StepSummary(counts=found.counts, seconds=found.seconds)
    for path, number in sorted(found.flagged.items()):
        summary.fail(path, f"{number} finding(s)")
    if not found.passed:
        context.log.warning(f"PHI gate failed: {found.summary}")
    return MaterializeResult(
        metadata=_finish(context, imagehub, ref, summary),
        check_results=[
            AssetCheckResult(
                check_name="no_phi_found",
                passed=found.passed,
                severity=AssetCheckSeverity.ERROR,
                metadata={"summary": found.summary, **found.counts},
            )
        ],
    )


ASSETS = [raw_commit, instance_metadata, series_thumbnails, nifti_volumes, deidentified_commit, phi_gate]
