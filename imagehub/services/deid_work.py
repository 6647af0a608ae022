"""De-identification of stored blobs, run on executor workers (in-process or on Ray).

A worker builds its engines once per policy (presidio, OCR), reads each raw blob,
de-identifies it and stores the result as a new blob; only the outcome travels back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imagehub.core.config import Settings
from imagehub.core.deid import PROFILES, DateShifter, UidMapper
from imagehub.core.deid.instance import InstanceResult, Policy, Tools, deidentify_file
from imagehub.core.deid.ocr.registry import open_ocr
from imagehub.core.deid.recipe import parse_recipe
from imagehub.core.deid.text import TextScrubber
from imagehub.core.errors import ImageHubError, InvalidInput
from imagehub.core.storage import worker_store
from imagehub.core.vcs import BlobId, BlobStore, blob_key
from imagehub.models.dataset import Dataset


@dataclass(frozen=True)
class PolicySpec:
    """A dataset's de-identification policy in picklable form, with its derived keys."""

    profile: str
    recipe: str
    ocr: str  # tesseract | easyocr | none
    scan_all_pixels: bool
    uid_key: bytes
    date_key: bytes

    @property
    def screening(self) -> str:
        return screening(self.profile, self.recipe, self.ocr, self.scan_all_pixels)


def dataset_screening(dataset: Dataset) -> str:
    """The digest of the policy ``dataset`` screens for PHI with now."""
    return screening(
        dataset.deid_profile, dataset.deid_recipe, dataset.deid_ocr, dataset.deid_scan_all_pixels
    )


def screening(profile: str, recipe: str, ocr: str, scan_all_pixels: bool) -> str:
    """What a PHI scan's verdict depends on in a policy, as one short digest: a ``phi-gate``
    result counts only for a dataset screening the same way now."""
    parts = json.dumps([profile, recipe, ocr, scan_all_pixels])
    return hashlib.sha256(parts.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class DeidTask:
    path: str
    blob: str


@dataclass(frozen=True)
class DeidOutcome:
    path: str
    blob: str | None
    size: int
    kind: str
    error: str
    needs_review: bool
    report: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, str] = field(default_factory=dict)


_engines: dict[PolicySpec, tuple[Policy, Tools]] = {}


OCR_ENGINES = ("tesseract", "easyocr", "none")


def build_policy(spec: PolicySpec) -> tuple[Policy, Tools]:
    """Engines for a policy; checked up front so a bad profile or recipe fails the run once."""
    if spec.profile not in PROFILES:
        raise InvalidInput(
            f"unknown de-identification profile {spec.profile!r} (known: {', '.join(PROFILES)})"
        )
    if spec.ocr not in OCR_ENGINES:
        raise InvalidInput(f"unknown OCR engine {spec.ocr!r} (known: {', '.join(OCR_ENGINES)})")
    if spec not in _engines:
        recipe = parse_recipe(spec.recipe)
        policy = Policy(
            profile_name=spec.profile,
            profile=PROFILES[spec.profile],
            recipe=recipe,
            region_rules=recipe.regions,
            ocr=None if spec.ocr == "none" else open_ocr(spec.ocr),
            scan_all_pixels=spec.scan_all_pixels,
        )
        _engines[spec] = (policy, Tools(UidMapper(spec.uid_key), DateShifter(spec.date_key), TextScrubber()))
    return _engines[spec]


def _outcome(task: DeidTask, result: InstanceResult, blobs: BlobStore) -> DeidOutcome:
    if result.output is None:
        return DeidOutcome(task.path, None, 0, result.kind, result.error, result.needs_review, result.report)
    blob, size = blobs.put_stream(result.output)
    return DeidOutcome(
        task.path, blob, size, result.kind, "", result.needs_review, result.report, result.identity
    )


def deidentify_blobs(settings: Settings, spec: PolicySpec, tasks: Sequence[DeidTask]) -> list[DeidOutcome]:
    policy, tools = build_policy(spec)
    store = worker_store(settings)
    blobs = BlobStore(store)
    outcomes = []
    for task in tasks:
        try:
            data = b"".join(store.get(blob_key(BlobId(task.blob))))
        except ImageHubError as exc:
            outcomes.append(
                DeidOutcome(task.path, None, 0, "unknown", f"cannot read stored blob: {exc}", False)
            )
            continue
        outcomes.append(_outcome(task, deidentify_file(data, policy, tools), blobs))
    return outcomes


def output_path(outcome: DeidOutcome) -> str:
    """Where a de-identified file lives: named by its new UIDs, never by the raw path (it may hold names)."""
    assert outcome.blob is not None
    if outcome.kind == "dicom":
        uids = outcome.report.get("uids", {})
        study, series, sop = (uids.get(k) or outcome.blob[:16] for k in ("study", "series", "sop"))
        return f"{study}/{series}/{sop}.dcm"
    suffix = ".nii.gz" if outcome.path.endswith(".gz") else ".nii"
    return f"volumes/{hashlib.sha256(outcome.blob.encode()).hexdigest()[:20]}{suffix}"
