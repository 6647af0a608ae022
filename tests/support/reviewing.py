"""A dataset with people in every role behind a live server, for the review and check tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from imagehub.core.vcs import RefKind
from imagehub.models.dataset import Dataset
from imagehub.services import access, audit, checks, datasets
from imagehub.services.deid_work import dataset_screening
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server

DS = "/api/v1/datasets/olga/brain"
PROPOSALS = f"{DS}/proposals"


@dataclass
class World:
    """olga owns olga/brain; wes and walt may write, rita may read, eve is a stranger."""

    http: httpx.Client
    platform: Platform
    tokens: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])

    def head(self, branch: str) -> str:
        with self.platform.sessions() as session:
            repo = datasets.repository(session, datasets.get(session, owner="olga", name="brain"))
            return repo.get_ref(branch, RefKind.BRANCH).commit

    def push(self, branch: str, files: dict[str, bytes | None]) -> str:
        return commit_files(self.platform, "olga", "brain", branch, files).id

    def open_proposal(self, source: str = "qc", target: str = "main", who: str = "wes") -> int:
        body = {"source": source, "target": target, "title": f"{source} into {target}"}
        created = self.http.post(PROPOSALS, json=body, headers=self.as_(who))
        assert created.status_code == 201, created.text
        return int(created.json()["number"])

    def protect(self, branch: str = "main", **rule: object) -> httpx.Response:
        body = {"protected": True, **rule}
        return self.http.put(f"{DS}/branches/{branch}/protection", json=body, headers=self.as_("olga"))

    def review(self, number: int, who: str, verdict: str, body: str = "") -> httpx.Response:
        payload = {"verdict": verdict, "body": body}
        return self.http.post(f"{PROPOSALS}/{number}/reviews", json=payload, headers=self.as_(who))

    def readiness(self, number: int, who: str = "rita") -> dict[str, Any]:
        found = self.http.get(f"{PROPOSALS}/{number}/readiness", headers=self.as_(who))
        assert found.status_code == 200, found.text
        return dict(found.json())

    def merge(self, number: int, who: str = "wes") -> httpx.Response:
        return self.http.post(f"{PROPOSALS}/{number}/merge", json={}, headers=self.as_(who))

    def pipeline_reports(self, commit_id: str, **statuses: str) -> None:
        """What the pipeline would report: ``phi_gate="failure"`` for the ``phi-gate`` check."""
        with self.platform.sessions.begin() as session:
            dataset = datasets.get(session, owner="olga", name="brain")
            for key, status in statuses.items():
                name = key.replace("_", "-")
                checks.report(
                    session,
                    dataset,
                    commit_id,
                    name,
                    status=status,
                    reporter=checks.PIPELINE_ACTOR,
                    summary=f"{name}: {status}",
                    details_url=f"http://dagster.test/assets/{name}",
                    details=screened_under(dataset),
                )

    def actions(self, prefix: str) -> list[tuple[str, str]]:
        """(action, actor) of the dataset's audit events whose action starts with ``prefix``."""
        with self.platform.sessions() as session:
            found = audit.search(session, action=prefix, dataset="olga/brain", limit=1000)
            return [(e.action, e.actor) for e in found]


@contextmanager
def world_of(platform: Platform, visibility: str = "private") -> Iterator[World]:
    """The dataset with a ``qc`` branch one commit ahead of ``main`` and a raw (PHI) branch."""
    tokens = {name: make_user(platform, name) for name in ("olga", "wes", "walt", "rita", "eve")}
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="olga", name="brain", author="olga", visibility=visibility)
        for name, role in (("wes", "write"), ("walt", "write"), ("rita", "read")):
            access.grant(session, dataset=dataset, role=role, actor="olga", username=name)
        repo = datasets.repository(session, dataset)
        for branch in ("qc", "raw"):
            repo.create_branch(branch, "main")
    commit_files(platform, "olga", "brain", "qc", {"a.dcm": b"QC"})
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        yield World(http, platform, tokens)


def screened_under(dataset: Dataset) -> dict[str, Any]:
    """The part of the pipeline's report that says which policy its PHI scan used."""
    return {"policy": {"screening": dataset_screening(dataset)}}


def pipeline_passed(session: Session, dataset: Dataset, commit_id: str) -> None:
    """The pipeline's three checks passed on ``commit_id``, screened under the dataset's policy."""
    for name in checks.PIPELINE_CHECKS:
        checks.report(
            session,
            dataset,
            commit_id,
            name,
            status="success",
            reporter=checks.PIPELINE_ACTOR,
            details=screened_under(dataset),
        )
