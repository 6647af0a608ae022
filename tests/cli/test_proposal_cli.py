"""`imagehub proposal ...` against a live server, through the main CLI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from imagehub.cli.main import app
from imagehub.sdk.http import RemoteConflict
from imagehub.services import datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server


@pytest.fixture
def env(platform: Platform) -> Iterator[dict[str, str]]:
    token = make_user(platform, "lab")
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="brain", author="lab")
        datasets.repository(session, datasets.get(session, owner="lab", name="brain")).create_branch(
            "qc", "main"
        )
    commit_files(platform, "lab", "brain", "qc", {"a.dcm": b"QC"})
    with live_server(create_app(platform)) as url:
        yield {"IMAGEHUB_URL": url, "IMAGEHUB_TOKEN": token, "COLUMNS": "200"}


def proposal(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["proposal", *args], env=env)


def test_create_list_show_merge(env: dict[str, str]) -> None:
    created = proposal(env, "create", "lab/brain", "-s", "qc", "-t", "main", "--title", "QC pass")
    assert created.exit_code == 0, created.output
    assert "opened #1 [open] QC pass (qc → main)" in created.output
    assert "1 commit(s) ahead, 1 file(s) changed" in created.output
    listed = proposal(env, "list", "lab/brain")
    assert "QC pass" in listed.output
    assert "qc → main" in listed.output
    shown = proposal(env, "show", "lab/brain", "1")
    assert "opened by lab" in shown.output
    merged = proposal(env, "merge", "lab/brain", "1", "-m", "ship it")
    assert merged.exit_code == 0, merged.output
    assert "merged #1 into main" in merged.output
    assert "no open proposals" in proposal(env, "list", "lab/brain").output
    assert "│ 1 │ merged │ QC pass" in proposal(env, "list", "lab/brain", "--state", "all").output


def test_conflict_names_the_paths(env: dict[str, str], platform: Platform) -> None:
    commit_files(platform, "lab", "brain", "main", {"a.dcm": b"MAIN"})
    assert proposal(env, "create", "lab/brain", "-s", "qc", "-t", "main", "--title", "t").exit_code == 0
    refused = proposal(env, "merge", "lab/brain", "1")
    assert isinstance(refused.exception, RemoteConflict)  # `imagehub` prints it as one line, exit 2
    assert "a.dcm" in str(refused.exception)
    assert proposal(env, "merge", "lab/brain", "1", "--strategy", "theirs").exit_code == 0
