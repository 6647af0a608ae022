"""A small dataset with an issue and a proposal on a live server: what form tests post to."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from imagehub.services import access, datasets, issues, proposals
from imagehub_api.app import create_app
from tests.support.accounts import PASSWORD, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform

DS = "/lab/scans"
SLOW = 60  # seconds: a sign-in hashes a password, slow on a busy machine


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


@dataclass(frozen=True)
class Site:
    base: str

    @contextmanager
    def browser(self, username: str = "lab") -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.base, timeout=SLOW) as client:
            signed_in = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
            assert signed_in.status_code == 303, signed_in.text
            yield client


@contextmanager
def running_site(data_dir: Path) -> Iterator[Site]:
    """lab/scans owned by lab, with issue #1 and proposal #1 (branch qc into main); rita reads it."""
    with migrated_platform(data_dir) as platform:
        for user in ("lab", "rita"):
            make_user(platform, user)
        with platform.sessions.begin() as session:
            dataset = datasets.create(session, owner="lab", name="scans", author="lab")
            access.grant(session, dataset=dataset, role="read", actor="lab", username="rita")
        commit_files(platform, "lab", "scans", "main", {"a.txt": b"a"})
        with platform.sessions.begin() as session:
            dataset = datasets.get(session, owner="lab", name="scans")
            datasets.repository(session, dataset).create_branch("qc", "main")
        commit_files(platform, "lab", "scans", "qc", {"b.txt": b"b"})
        with platform.sessions.begin() as session:
            dataset = datasets.get(session, owner="lab", name="scans")
            repo = datasets.repository(session, dataset)
            proposals.create(session, dataset, repo, actor="lab", source="qc", target="main", title="QC")
            issues.create(session, dataset, actor="lab", title="First")
        with live_server(create_app(platform)) as base:
            yield Site(base)
