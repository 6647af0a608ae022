"""The PHI gate: the de-identification verification of one dataset commit, as a required check.

Every DICOM and NIfTI file of the commit is scanned under the dataset's de-identification
policy (``core.deid.verify``: tags by profile, free text, OCR of pixels at risk) and the
result is reported as the ``phi-gate`` check; any finding fails it. Findings name the path
and the attribute or region, never a value.

A scan depends only on a file's bytes and the policy, so results are kept per (policy
fingerprint, blob) in the derived store, beside thumbnails and volumes, and a commit that
changes ten files of a large dataset scans ten. The derived store rather than a table: the
results are only ever read by blob, by the workers that would otherwise scan, and need no
migration.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from imagehub.core.compute import Executor
from imagehub.core.config import Settings
from imagehub.core.deid.table import EDITION
from imagehub.core.deid.verify import SCANNER_VERSION, Finding, scan_file
from imagehub.core.errors import ImageHubError
from imagehub.core.storage import ObjectStore, worker_store
from imagehub.core.vcs import BlobId, blob_key
from imagehub.models import dataset as dataset_queries
from imagehub.services import checks, datasets
from imagehub.services.deid import BATCH, OCR_GPU_SHARE, policy_spec
from imagehub.services.deid_work import PolicySpec, build_policy
from imagehub.services.imaging import CommitRef
from imagehub.services.platform import Platform

CACHE_PREFIX = "derived/phi-scans"
LISTED_FILES = 50  # files whose findings the check's details list; the rest are counted
LISTED_FINDINGS = 10  # findings listed per file
LISTED_FIRST = {"pixels": 0, "text": 1, "tag": 2}  # the rarer kinds first: text on images, free text


@dataclass(frozen=True)
class ScanTask:
    blob: str
    size: int


@dataclass(frozen=True)
class BlobScan:
    """One blob's scan; ``kept`` is False when it failed for a reason outside the file (storage, OCR)."""

    blob: str
    kind: str  # dicom | nifti | other (not scanned) | unreadable (from storage)
    findings: list[dict[str, str]]
    pixels: str
    kept: bool = True
    reused: bool = False  # read from the results of an earlier scan


@dataclass
class GateResult:
    """What the gate found in a commit, as reported in the ``phi-gate`` check."""

    passed: bool
    summary: str
    counts: dict[str, int]
    details: dict[str, Any]
    flagged: dict[str, int] = field(default_factory=dict)  # path -> findings
    seconds: float = 0.0


def policy_fingerprint(spec: PolicySpec) -> str:
    """What a scan result depends on besides the bytes: the policy, the scanner and the standard.
    The dataset's UID and date keys are not part of it: the scan never uses them."""
    parts = [
        SCANNER_VERSION,
        EDITION,
        spec.profile,
        spec.recipe,
        spec.ocr,
        str(spec.scan_all_pixels),
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


def _cache_key(fingerprint: str, blob: str) -> str:
    return f"{CACHE_PREFIX}/{fingerprint}/{blob[:2]}/{blob}.json"


def _scan(store: ObjectStore, spec: PolicySpec, task: ScanTask) -> BlobScan:
    """The scan reads the file as it goes (a header, a frame, a window of text at a time), so a
    failure of the store may come at any point of it."""
    policy, tools = build_policy(spec)
    try:
        with store.open(blob_key(BlobId(task.blob)), task.size) as stream:
            found = scan_file(
                stream,
                profile=policy.profile,
                ocr=policy.ocr,
                text_scanner=tools.scrubber,
                recipe=policy.recipe,
                scan_all_pixels=policy.scan_all_pixels,
            )
    except ImageHubError:
        failed = Finding("tag", "file", "the stored file cannot be read, so it cannot be checked for PHI")
        return BlobScan(task.blob, "unreadable", [failed.as_dict()], "not at risk", kept=False)
    except Exception as error:  # the OCR engine failed on this file: scan it again next time
        failed = Finding("pixels", "pixel data", f"could not be scanned ({type(error).__name__})")
        return BlobScan(task.blob, "dicom", [failed.as_dict()], "read", kept=False)
    return BlobScan(task.blob, found.kind, [f.as_dict() for f in found.findings], found.pixels)


def scan_blobs(settings: Settings, spec: PolicySpec, tasks: Sequence[ScanTask]) -> list[BlobScan]:
    """Executor work: each blob's scan, from the cache where this policy has scanned it before."""
    store = worker_store(settings)
    fingerprint = policy_fingerprint(spec)
    results = []
    for task in tasks:
        key = _cache_key(fingerprint, task.blob)
        if store.exists(key):
            results.append(replace(BlobScan(**json.loads(b"".join(store.get(key)))), reused=True))
            continue
        scan = _scan(store, spec, task)
        if scan.kept:
            store.put(key, json.dumps(vars(scan), sort_keys=True).encode())
        results.append(scan)
    return results


def _summary(counts: dict[str, int]) -> str:
    if counts["findings"]:
        found = f"{counts['findings']} finding(s) in {counts['flagged']} of {counts['files']} file(s)"
    else:
        found = f"no PHI found in {counts['dicom'] + counts['nifti']} DICOM or NIfTI file(s)"
    notes = []
    if counts["other"]:
        notes.append(f"{counts['other']} file(s) neither DICOM nor NIfTI, not scanned")
    if counts["pixels_not_read"]:
        notes.append(f"pixels of {counts['pixels_not_read']} file(s) at risk not read: the policy has no OCR")
    return "; ".join([found, *notes])


def _details(
    spec: PolicySpec, counts: dict[str, int], by_path: dict[str, list[dict[str, str]]]
) -> dict[str, Any]:
    """The report: counts, and the findings of the first files by path, capped in size."""
    listed = sorted(by_path)[:LISTED_FILES]
    return {
        "policy": {
            "profile": spec.profile,
            "recipe": bool(spec.recipe.strip()),
            "ocr": spec.ocr,
            "scan_all_pixels": spec.scan_all_pixels,
            "screening": spec.screening,
        },
        "counts": counts,
        "files": {
            path: {
                "total": len(by_path[path]),
                "findings": sorted(by_path[path], key=lambda f: LISTED_FIRST[f["kind"]])[:LISTED_FINDINGS],
            }
            for path in listed
        },
        "files_not_listed": len(by_path) - len(listed),
    }


def verify_commit(
    platform: Platform,
    executor: Executor,
    ref: CommitRef,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> GateResult:
    """Scan every file of the commit under its dataset's policy and report the ``phi-gate`` check."""
    started = time.perf_counter()
    with platform.sessions() as session:
        dataset = session.get_one(dataset_queries.Dataset, ref.dataset_id)
        spec = policy_spec(platform, dataset)
        build_policy(spec)  # a bad profile or recipe, or a missing OCR engine, fails here, once
        repo = datasets.repository(session, dataset)
        entries = list(repo.tree.iterate(repo.resolve(ref.commit_id).tree))
    sizes = {entry.blob: entry.size for entry in entries}
    tasks = [ScanTask(blob, size) for blob, size in sorted(sizes.items())]
    scans: dict[str, BlobScan] = {}
    work = partial(scan_blobs, platform.settings, spec)
    gpus = OCR_GPU_SHARE if spec.ocr == "easyocr" else 0.0
    for batch in executor.map_batches(work, tasks, BATCH, gpus=gpus):
        scans.update((scan.blob, scan) for scan in batch)
        progress(len(scans), len(tasks))
    by_path = {e.path: scans[e.blob].findings for e in entries if scans[e.blob].findings}
    kinds = Counter(scans[e.blob].kind for e in entries)
    counts = {
        "files": len(entries),
        "dicom": kinds["dicom"],
        "nifti": kinds["nifti"],
        "other": kinds["other"],
        "unreadable": kinds["unreadable"],
        "flagged": len(by_path),
        "findings": sum(len(found) for found in by_path.values()),
        "pixels_not_read": sum(1 for e in entries if scans[e.blob].pixels == "skipped"),
        "scanned": sum(1 for scan in scans.values() if not scan.reused),
        "reused": sum(1 for scan in scans.values() if scan.reused),
    }
    passed = not by_path
    result = GateResult(
        passed,
        _summary(counts),
        counts,
        _details(spec, counts, by_path),
        {path: len(found) for path, found in by_path.items()},
    )
    checks.report_from_pipeline(
        platform, ref, checks.PHI_GATE, passed=passed, summary=result.summary, details=result.details
    )
    result.seconds = time.perf_counter() - started
    return result
