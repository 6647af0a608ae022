"""De-identify a folder on local disk, without a server: the `imagehub deid` command.

Output mirrors the input tree (file for file); what could not be de-identified is left
out and listed in the report written beside the output folder. UIDs and dates are keyed
by a secret kept in the user's config folder, so separate runs over parts of a study
still link up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagehub.core.auth.sealing import derive_key
from imagehub.core.deid.instance import deidentify_file
from imagehub.core.deid.table import EDITION
from imagehub.core.errors import InvalidInput
from imagehub.core.secret_files import kept_secret
from imagehub.services.deid_work import PolicySpec, build_policy

DEFAULT_SECRET_FILE = Path("~/.config/imagehub/deid-secret")


@dataclass(frozen=True)
class FolderResult:
    written: int
    failed: int
    skipped: int  # neither DICOM nor NIfTI
    needs_review: int
    report_path: Path


def load_secret(path: Path) -> str:
    """The user's de-identification secret, created (mode 0600) on first use."""
    return kept_secret(path.expanduser(), what="de-identification secret")


def deidentify_folder(
    source: Path,
    target: Path,
    *,
    profile: str = "research",
    recipe: str = "",
    ocr: str = "tesseract",
    scan_all_pixels: bool = False,
    secret: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> FolderResult:
    if not source.is_dir():
        raise InvalidInput(f"{source} is not a folder")
    if target.resolve().is_relative_to(source.resolve()):
        raise InvalidInput("the output folder must not be inside the input folder")
    if target.exists() and any(target.iterdir()):
        raise InvalidInput(f"{target} exists and is not empty; choose a new output folder")
    spec = PolicySpec(
        profile,
        recipe,
        ocr,
        scan_all_pixels,
        derive_key(secret, "deid:uids"),
        derive_key(secret, "deid:dates"),
    )
    policy, tools = build_policy(spec)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    instances: dict[str, Any] = {}
    failures: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for done, path in enumerate(files, start=1):
        relative = path.relative_to(source).as_posix()
        result = deidentify_file(path.read_bytes(), policy, tools)
        if result.output is None:
            (skipped if result.kind == "other" else failures)[relative] = result.error
        else:
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(result.output)
            instances[relative] = {**result.report, "needs_review": result.needs_review}
        progress(done, len(files))
    target = target.resolve()  # "--out ." has no name to put the report beside
    report_path = target.with_name(target.name + ".deid-report.json")
    report = {
        "profile": profile,
        "standard_edition": EDITION,
        "recipe": bool(recipe.strip()),
        "ocr": ocr,
        "instances": instances,
        "failed": failures,
        "skipped": skipped,
    }
    target.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=1, sort_keys=True))
    review = sum(1 for item in instances.values() if item["needs_review"])
    return FolderResult(len(instances), len(failures), len(skipped), review, report_path)
