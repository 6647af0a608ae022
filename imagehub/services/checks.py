"""Required checks: results reported against a commit, and the gate merges and releases pass.

The pipeline reports three checks on every branch head it processes: ``metadata-complete``
(every file indexed), ``thumbnails`` (every series has one) and ``phi-gate`` (the
de-identification verification: tags by profile, free text, OCR of pixels). Anything that
merges into a non-PHI branch of an internal or public dataset needs all three to have
passed on the commit, and a release of such a dataset needs ``phi-gate``; protected branches
may require more (their rule). A missing result is pending, and pending blocks as failure does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import is_phi_branch
from imagehub.core.errors import Conflict, InvalidInput
from imagehub.core.vcs import RefKind
from imagehub.models import checks as queries
from imagehub.models.base import utcnow
from imagehub.models.checks import STATUSES, CheckResult
from imagehub.models.dataset import Dataset
from imagehub.models.reviews import BranchRule
from imagehub.models.vcs import RefRow
from imagehub.services import access, audit, webhooks
from imagehub.services.deid_work import dataset_screening
from imagehub.services.imaging import CommitRef
from imagehub.services.pipeline import dagster_asset_url, partition_key
from imagehub.services.platform import Platform

METADATA, THUMBNAILS, PHI_GATE = "metadata-complete", "thumbnails", "phi-gate"
PIPELINE_CHECKS = (METADATA, THUMBNAILS, PHI_GATE)
PIPELINE_ASSETS = {METADATA: "instance_metadata", THUMBNAILS: "series_thumbnails", PHI_GATE: "phi_gate"}
PIPELINE_ACTOR = "pipeline"
SHARED_VISIBILITIES = ("internal", "public")
MAX_DETAILS = 256 * 1024  # bytes of JSON report kept per result
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Blocked(Conflict):
    """A merge or a release waits: for required checks that are pending or failed, or for
    approvals. ``details`` lists each blocking check with its report."""

    def __init__(self, reasons: Sequence[str], blocking: Sequence[dict[str, str]]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons, self.blocking = list(reasons), list(blocking)

    def details(self) -> dict[str, object]:
        return {"reasons": self.reasons, "blocking_checks": self.blocking}


@dataclass(frozen=True)
class CheckState:
    """A required check as the gate sees it: ``pending`` when nothing was reported."""

    name: str
    status: str
    summary: str
    details_url: str
    updated_at: str
    reported_by: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "success"

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "details_url": self.details_url,
            "updated_at": self.updated_at,
        }


def check_name(name: str) -> str:
    """A check's name as a branch rule and a report give it; anything else could never be reported."""
    if not NAME.fullmatch(name):
        raise InvalidInput(f"{name!r} is not a check name: 1-64 letters, digits, '-' or '_'")
    return name


def result_dict(row: CheckResult, *, with_details: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": row.name,
        "commit": row.commit_id,
        "status": row.status,
        "summary": row.summary,
        "details_url": row.details_url,
        "reported_by": row.reported_by,
        "updated_at": row.updated_at.isoformat(),
    }
    if with_details:
        found["details"] = json.loads(row.details)
    return found


def report(
    session: Session,
    dataset: Dataset,
    commit_id: str,
    name: str,
    *,
    status: str,
    reporter: str,
    summary: str = "",
    details: dict[str, Any] | None = None,
    details_url: str = "",
) -> CheckResult:
    """Record (or replace) one check's result on a commit, audited."""
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
    check_name(name)
    encoded = json.dumps(details or {}, sort_keys=True, default=str)
    if len(encoded) > MAX_DETAILS:
        raise InvalidInput(f"check details are limited to {MAX_DETAILS} bytes of JSON")
    row = queries.one(session, dataset.id, commit_id, name)
    if row is None:
        row = CheckResult(dataset_id=dataset.id, commit_id=commit_id, name=name)
        session.add(row)
    row.status, row.summary, row.details, row.details_url = status, summary[:2000], encoded, details_url
    row.reported_by, row.updated_at = reporter, utcnow()
    session.flush()
    audit.record(
        session,
        actor=reporter,
        action="check.report",
        dataset=dataset.full_name,
        object=f"check:{name}",
        commit=commit_id,
        details={"status": status},
    )
    if status != "pending":
        webhooks.emit(
            session,
            dataset,
            "check.completed",
            {
                "name": name,
                "commit": commit_id,
                "status": status,
                "summary": row.summary,
                "report": report_url(dataset, commit_id, name),
                "details_url": details_url,
                "reported_by": reporter,
            },
        )
    return row


def results(session: Session, dataset: Dataset, commit_id: str) -> list[CheckResult]:
    return queries.for_commit(session, dataset.id, commit_id)


def result(session: Session, dataset: Dataset, commit_id: str, name: str) -> CheckResult | None:
    return queries.one(session, dataset.id, commit_id, name)


def _rule_checks(rule: BranchRule | None) -> list[str]:
    return list(json.loads(rule.required_checks)) if rule is not None else []


def required(dataset: Dataset, branch: str, rule: BranchRule | None) -> list[str]:
    """Checks a merge into ``branch`` needs: the rule's, plus the pipeline's own where data
    leaves the PHI boundary (a shared dataset's non-PHI branch)."""
    names = _rule_checks(rule)
    if dataset.visibility in SHARED_VISIBILITIES and not is_phi_branch(access.facts(dataset), branch):
        names += [n for n in PIPELINE_CHECKS if n not in names]
    return names


def required_for_release(dataset: Dataset) -> list[str]:
    """A release of a shared dataset is published data: the PHI gate must have passed."""
    return [PHI_GATE] if dataset.visibility in SHARED_VISIBILITIES else []


def states(session: Session, dataset: Dataset, commit_id: str, names: Iterable[str]) -> list[CheckState]:
    """The required checks' results on a commit of ``dataset``. (A fork's count toward its
    source only while both screen alike: see ``merge_gate``.)"""
    found = {row.name: _state(row, dataset) for row in results(session, dataset, commit_id)}
    return [found.get(n) or CheckState(n, "pending", "not reported yet", "", "") for n in names]


def _state(row: CheckResult, dataset: Dataset) -> CheckState:
    """A passed PHI gate counts only under the policy ``dataset`` screens with now: a scan
    under a looser recipe, since put back, proves nothing."""
    status, summary = row.status, row.summary
    if row.name == PHI_GATE and status == "success" and _screened_with(row) != dataset_screening(dataset):
        status = "stale"
        summary = (
            f"passed under another de-identification policy than {dataset.full_name}'s current one: "
            "the pipeline screens branch heads again by itself; for another commit, run its phi_gate"
        )
    return CheckState(row.name, status, summary, row.details_url, row.updated_at.isoformat(), row.reported_by)


def _screened_with(row: CheckResult) -> str:
    policy = json.loads(row.details).get("policy")
    return str(policy.get("screening", "")) if isinstance(policy, dict) else ""


@dataclass(frozen=True)
class Rescreen:
    """A branch head whose PHI gate ran under a policy its dataset has since changed."""

    partition_key: str
    screening: str
    reported_at: datetime

    @property
    def run_key(self) -> str:
        """One run per policy and per result: a run that fails is not asked for again."""
        return f"{self.partition_key}:screening:{self.screening}:{self.reported_at.isoformat()}"


def rescreens(platform: Platform, known: set[str]) -> list[Rescreen]:
    """Branch heads among the ``known`` partitions whose ``phi-gate`` result was screened
    under another policy than their dataset's current one, each once."""
    with platform.sessions() as session:
        rows = session.execute(
            select(Dataset, CheckResult)
            .join(CheckResult, CheckResult.dataset_id == Dataset.id)
            .join(RefRow, (RefRow.repository_id == Dataset.id) & (RefRow.commit_id == CheckResult.commit_id))
            .where(
                Dataset.deleted_at.is_(None),
                RefRow.kind == RefKind.BRANCH.value,
                CheckResult.name == PHI_GATE,
                CheckResult.reported_by == PIPELINE_ACTOR,
            )
        )
        found: dict[str, Rescreen] = {}
        for dataset, row in rows.tuples():
            key = partition_key(dataset.full_name, row.commit_id)
            current = dataset_screening(dataset)
            if key in known and _screened_with(row) != current:
                found[key] = Rescreen(key, current, row.updated_at)
    return [found[key] for key in sorted(found)]


def report_url(dataset: Dataset, commit_id: str, name: str) -> str:
    """Where a person reads a check's report (the portal page)."""
    return f"/{dataset.full_name}/commits/{commit_id}/checks/{name}"


def blocking_reasons(dataset: Dataset, commit_id: str, found: Sequence[CheckState]) -> list[str]:
    """One sentence per check that is not passed, naming its report."""
    return [
        f"check {s.name} is {s.status} on {commit_id[:12]} (report: {report_url(dataset, commit_id, s.name)})"
        for s in found
        if not s.passed
    ]


def blocking_dicts(dataset: Dataset, commit_id: str, found: Sequence[CheckState]) -> list[dict[str, str]]:
    return [{**s.as_dict(), "report": report_url(dataset, commit_id, s.name)} for s in found if not s.passed]


def require_passed(session: Session, dataset: Dataset, commit_id: str, names: Sequence[str]) -> None:
    """Raise Blocked naming each pending or failed check and its report."""
    found = states(session, dataset, commit_id, names)
    reasons = blocking_reasons(dataset, commit_id, found)
    if reasons:
        raise Blocked(reasons, blocking_dicts(dataset, commit_id, found))


def report_from_pipeline(
    platform: Platform, ref: CommitRef, name: str, *, passed: bool, summary: str, details: dict[str, Any]
) -> None:
    """The pipeline's result for one of its checks, in its own transaction; with a Dagster
    UI configured the result links to the asset at this commit."""
    base = platform.settings.dagster_url
    asset = PIPELINE_ASSETS[name]
    url = dagster_asset_url(base, asset, ref.dataset, ref.commit_id) if base else ""
    with platform.sessions.begin() as session:
        dataset = session.get(Dataset, ref.dataset_id)
        if dataset is None:
            return  # deleted for good while the run was going
        report(
            session,
            dataset,
            ref.commit_id,
            name,
            status="success" if passed else "failure",
            reporter=PIPELINE_ACTOR,
            summary=summary,
            details=details,
            details_url=url,
        )
