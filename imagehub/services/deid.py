"""De-identify a raw commit into a commit on the dataset's de-identified branch.

The output commit names its source (``deidentified_from``) and its report; its branch
starts from an empty root, so no raw commit is ever in its history. Files that cannot
be de-identified (not imaging, corrupt, or failing the leak check) are left out and
reported. Original identities are kept only when the dataset's policy allows a
re-identification map, sealed, and readable by admins alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.auth.sealing import derive_key, seal, unseal
from imagehub.core.compute import Executor
from imagehub.core.deid.table import EDITION
from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.vcs import BlobId, Commit, Entry, RefKind
from imagehub.models import dataset as dataset_queries
from imagehub.models.deid import DeidRun, ReidMap
from imagehub.models.vcs import SqlBlobIndex
from imagehub.services import audit, datasets
from imagehub.services.deid_work import (
    OCR_ENGINES,
    DeidOutcome,
    DeidTask,
    PolicySpec,
    build_policy,
    deidentify_blobs,
    output_path,
)
from imagehub.services.imaging import CommitRef
from imagehub.services.platform import Platform

AUTHOR = "imagehub-deid"
BATCH = 16
OCR_GPU_SHARE = 0.25  # four OCR tasks share a GPU
MEDIA_TYPES = {"dicom": "application/dicom", "nifti": "application/x-nifti"}


@dataclass(frozen=True)
class DeidSummary:
    run_id: int | None
    output_commit: str | None
    instances: int
    failed: int
    needs_review: int
    seconds: float
    skipped_reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def policy_spec(platform: Platform, dataset: dataset_queries.Dataset) -> PolicySpec:
    secret = platform.secret_key
    return PolicySpec(
        profile=dataset.deid_profile,
        recipe=dataset.deid_recipe,
        ocr=dataset.deid_ocr,
        scan_all_pixels=dataset.deid_scan_all_pixels,
        uid_key=derive_key(secret, f"deid:uids:{dataset.id}"),
        date_key=derive_key(secret, f"deid:dates:{dataset.id}"),
    )


def is_phi_commit(session: Session, dataset: dataset_queries.Dataset, commit_id: str) -> bool:
    """Whether the commit is the head of one of the dataset's PHI (raw) branches."""
    repo = datasets.repository(session, dataset)
    return any(
        ref.commit == commit_id and dataset.is_phi_branch(ref.name)
        for ref in repo.list_refs(RefKind.BRANCH, limit=1000)
    )


def _without_duplicates(outcomes: list[DeidOutcome]) -> list[DeidOutcome]:
    """The same instance stored under two raw paths becomes one output; the others are reported."""
    seen: set[str] = set()
    kept: list[DeidOutcome] = []
    for outcome in outcomes:
        if outcome.blob is not None:
            path = output_path(outcome)
            if path in seen:
                outcome = replace(outcome, blob=None, error="duplicate: another file is the same instance")
            seen.add(path)
        kept.append(outcome)
    return kept


def _report(spec: PolicySpec, ref: CommitRef, outcomes: list[DeidOutcome]) -> dict[str, Any]:
    """The verification report: what was done to each output file; no input path or identity."""
    return {
        "source_commit": ref.commit_id,
        "profile": spec.profile,
        "standard_edition": EDITION,
        "recipe": bool(spec.recipe.strip()),
        "ocr": spec.ocr,
        "instances": {
            output_path(o): {**o.report, "needs_review": o.needs_review} for o in outcomes if o.blob
        },
        "failed": [{"kind": o.kind, "reason": o.error} for o in outcomes if not o.blob],
    }


def _commit_output(
    session: Session,
    dataset: dataset_queries.Dataset,
    ref: CommitRef,
    spec: PolicySpec,
    report_key: str,
    outcomes: list[DeidOutcome],
) -> Commit:
    good = sorted(((output_path(o), o) for o in outcomes if o.blob), key=lambda pair: pair[0])
    SqlBlobIndex(session).register([(BlobId(o.blob), o.size) for _, o in good if o.blob])
    repo = datasets.repository(session, dataset)
    if repo.stores.refs.get(dataset.deid_branch, RefKind.BRANCH) is None:
        repo.init(dataset.deid_branch, author=AUTHOR)  # an empty root: no raw ancestry
    entries = (
        Entry(path, o.blob or "", o.size, MEDIA_TYPES.get(o.kind, "application/octet-stream"))
        for path, o in good
    )
    tree, _ = repo.build_tree(entries)
    head = repo.resolve(dataset.deid_branch)
    if head.tree == tree and head.metadata.get("deidentified_from") == ref.commit_id:
        return head  # a rerun that de-identified to the same files: no new commit (and no new run)
    return repo.commit_tree(
        dataset.deid_branch,
        tree,
        author=AUTHOR,
        message=f"De-identified {ref.commit_id[:12]} ({spec.profile})",
        metadata={"deidentified_from": ref.commit_id, "profile": spec.profile, "report": report_key},
    )


def deidentify_commit(
    platform: Platform,
    executor: Executor,
    ref: CommitRef,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> DeidSummary:
    started = time.perf_counter()
    with platform.sessions() as session:
        dataset = session.get_one(dataset_queries.Dataset, ref.dataset_id)
        if not is_phi_commit(session, dataset, ref.commit_id):
            return DeidSummary(
                None, None, 0, 0, 0, 0.0, "not the head of a raw (PHI) branch: nothing to de-identify"
            )
        spec = policy_spec(platform, dataset)
        build_policy(spec)  # a bad profile or recipe fails here, once
        repo = datasets.repository(session, dataset)
        tasks = [DeidTask(e.path, e.blob) for e in repo.tree.iterate(repo.resolve(ref.commit_id).tree)]
    outcomes: list[DeidOutcome] = []
    work = partial(deidentify_blobs, platform.settings, spec)
    gpus = OCR_GPU_SHARE if spec.ocr == "easyocr" else 0.0  # easyocr runs on a GPU when Ray has one
    for batch in executor.map_batches(work, tasks, BATCH, gpus=gpus):
        outcomes.extend(batch)
        progress(len(outcomes), len(tasks))
    outcomes = _without_duplicates(outcomes)
    report = _report(spec, ref, outcomes)
    report_bytes = json.dumps(report, sort_keys=True, indent=1).encode()
    report_key = f"derived/deid-reports/{ref.dataset_id}/{ref.commit_id}.json"
    platform.store.put(report_key, report_bytes)
    failed = sum(1 for o in outcomes if not o.blob)
    review = sum(1 for o in outcomes if o.needs_review)
    with platform.sessions.begin() as session:
        dataset = session.get_one(dataset_queries.Dataset, ref.dataset_id)
        commit = _commit_output(session, dataset, ref, spec, report_key, outcomes)
        run = DeidRun(
            dataset_id=dataset.id,
            source_commit=ref.commit_id,
            output_commit=commit.id,
            profile=spec.profile,
            report_key=report_key,
            instances=len(outcomes) - failed,
            failed=failed,
            needs_review=review,
            summary=json.dumps({"failed": report["failed"][:20]}),
        )
        session.add(run)
        session.flush()
        if dataset.deid_keep_map:
            identities = {output_path(o): {"source_path": o.path, **o.identity} for o in outcomes if o.blob}
            plain = json.dumps(identities, sort_keys=True).encode()
            session.add(ReidMap(run_id=run.id, sealed=seal(platform.secret_key, f"reid:{dataset.id}", plain)))
        run_id = run.id
    return DeidSummary(
        run_id, commit.id, len(outcomes) - failed, failed, review, time.perf_counter() - started
    )


def report(platform: Platform, dataset_id: int, commit_id: str) -> dict[str, Any]:
    """The verification report of the run that produced (or consumed) ``commit_id``."""
    with platform.sessions() as session:
        run = session.scalar(
            select(DeidRun)
            .where(DeidRun.dataset_id == dataset_id)
            .where((DeidRun.output_commit == commit_id) | (DeidRun.source_commit == commit_id))
            .order_by(DeidRun.id.desc())
        )
        if run is None:
            raise NotFound(f"no de-identification run for commit {commit_id[:12]}")
        key = run.report_key
    loaded: dict[str, Any] = json.loads(b"".join(platform.store.get(key)))
    return loaded


def read_reid_map(
    session: Session,
    platform: Platform,
    *,
    dataset: dataset_queries.Dataset,
    commit_id: str,
    actor: str,
    purpose: str,
) -> dict[str, Any]:
    """Open a sealed re-identification map; the caller has checked the admin role. Always audited."""
    run = session.scalar(
        select(DeidRun).where(DeidRun.dataset_id == dataset.id, DeidRun.output_commit == commit_id)
    )
    sealed = session.get(ReidMap, run.id) if run is not None else None
    if sealed is None:
        raise NotFound(
            f"no re-identification map for {commit_id[:12]} (the dataset's policy may not keep one)"
        )
    audit.record(
        session,
        actor=actor,
        action="deid.reid_map.read",
        dataset=dataset.full_name,
        commit=commit_id,
        purpose=purpose,
        details={"run": run.id if run else None},
    )
    opened: dict[str, Any] = json.loads(unseal(platform.secret_key, f"reid:{dataset.id}", sealed.sealed))
    return opened


def policy_dict(dataset: dataset_queries.Dataset) -> dict[str, Any]:
    return {
        "profile": dataset.deid_profile,
        "recipe": dataset.deid_recipe,
        "branch": dataset.deid_branch,
        "ocr": dataset.deid_ocr,
        "scan_all_pixels": dataset.deid_scan_all_pixels,
        "keep_reidentification_map": dataset.deid_keep_map,
    }


def update_policy(
    session: Session, *, dataset: dataset_queries.Dataset, actor: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change how a dataset is de-identified; validated as a whole, then audited."""
    from imagehub.core.deid import PROFILES
    from imagehub.core.deid.recipe import parse_recipe
    from imagehub.core.vcs import validate_ref_name

    if "profile" in changes and changes["profile"] not in PROFILES:
        raise InvalidInput(f"profile must be one of {', '.join(PROFILES)}")
    if "ocr" in changes and changes["ocr"] not in OCR_ENGINES:
        raise InvalidInput(f"ocr must be one of {', '.join(OCR_ENGINES)}")
    if "recipe" in changes:
        parse_recipe(changes["recipe"])
    if "branch" in changes:
        validate_ref_name(changes["branch"], RefKind.BRANCH)
        if dataset.is_phi_branch(changes["branch"]):
            raise InvalidInput(f"{changes['branch']!r} matches a raw (PHI) branch pattern")
    columns = {
        "profile": "deid_profile",
        "recipe": "deid_recipe",
        "branch": "deid_branch",
        "ocr": "deid_ocr",
        "scan_all_pixels": "deid_scan_all_pixels",
        "keep_reidentification_map": "deid_keep_map",
    }
    for name, value in changes.items():
        setattr(dataset, columns[name], value)
    audit.record(
        session,
        actor=actor,
        action="deid.policy",
        dataset=dataset.full_name,
        details={k: v for k, v in changes.items() if k != "recipe"}
        | ({"recipe_changed": True} if "recipe" in changes else {}),
    )
    return policy_dict(dataset)
