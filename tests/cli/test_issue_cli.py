"""`imagehub issue ...` against a live server, through the main CLI app."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pydicom
import pytest
from typer.testing import CliRunner, Result

from imagehub.cli.main import app
from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.sdk.http import RemoteConflict
from imagehub.services import access, audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.portal import run_pipeline


@pytest.fixture
def env(platform: Platform) -> Iterator[dict[str, str]]:
    """lab owns lab/brain; rita may read it."""
    token = make_user(platform, "lab")
    make_user(platform, "rita")
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="brain", author="lab")
        access.grant(session, dataset=dataset, role="read", actor="lab", username="rita")
    with live_server(create_app(platform)) as url:
        yield {"IMAGEHUB_URL": url, "IMAGEHUB_TOKEN": token, "COLUMNS": "200"}


def issue(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["issue", *args], env=env)


def ok(env: dict[str, str], *args: str) -> str:
    result = issue(env, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_create_list_edit_comment_close_reopen(env: dict[str, str], platform: Platform) -> None:
    created = ok(
        env, "create", "lab/brain", "--title", "Motion in slice 4", "-l", "QC", "-l", "motion", "-a", "rita"
    )
    assert "opened #1 [open] Motion in slice 4 {qc, motion} → rita" in created
    ok(
        env,
        "create",
        "lab/brain",
        "--title",
        "Label the liver",
        "-l",
        "labelling",
        "-b",
        "All *forty* cases.",
    )
    listed = ok(env, "list", "lab/brain")
    assert re.search(r"│ 1 +│ open +│ Motion in slice 4 +│ qc, motion +│ rita +│ lab", listed)
    assert "Label the liver" in listed
    assert "Label the liver" not in ok(env, "list", "lab/brain", "--label", "qc")
    assert "Motion" not in ok(env, "list", "lab/brain", "--assignee", "nobody-here")
    assert "no open issues" in ok(env, "list", "lab/brain", "-q", "nothing like it")
    edited = ok(env, "edit", "lab/brain", "1", "--title", "Motion, slices 4-5", "--assignee", "")
    assert "edited #1 [open] Motion, slices 4-5 {qc, motion}" in edited
    assert "→" not in edited
    cleared = ok(env, "edit", "lab/brain", "1", "--label", "")
    assert "edited #1 [open] Motion, slices 4-5\n" in cleared
    assert issue(env, "edit", "lab/brain", "1").exit_code == 2  # nothing to change
    assert "commented on #2" in ok(env, "comment", "lab/brain", "2", "-b", "Started on case 1.")
    shown = ok(env, "show", "lab/brain", "2")
    assert "#2 [open] Label the liver {labelling}" in shown
    assert "opened by lab" in shown
    assert "All *forty* cases." in shown
    assert "Started on case 1." in shown
    assert "closed #2 [closed]" in ok(env, "close", "lab/brain", "2")
    assert "closed by lab" in ok(env, "show", "lab/brain", "2")
    refused = issue(env, "close", "lab/brain", "2")
    assert isinstance(refused.exception, RemoteConflict)  # `imagehub` prints it as one line, exit 2
    assert "already closed" in str(refused.exception)
    assert "│ 2 │ closed │ Label the liver" in ok(env, "list", "lab/brain", "--state", "closed")
    assert "reopened #2 [open]" in ok(env, "reopen", "lab/brain", "2")
    with platform.sessions() as session:
        events = audit.search(session, dataset="lab/brain", limit=50)
    assert sorted(e.action for e in events if e.action.startswith("issue.")) == [
        "issue.close",
        "issue.comment",
        "issue.create",
        "issue.create",
        "issue.reopen",
        "issue.update",
        "issue.update",
    ]


def test_link_show_and_unlink_a_series(env: dict[str, str], platform: Platform) -> None:
    data = ct_instance_bytes(rows=16, columns=16)
    commit = commit_files(platform, "lab", "brain", "main", {"ct/0.dcm": data})
    run_pipeline(platform, "lab/brain", commit)
    uid = str(pydicom.dcmread(io.BytesIO(data)).SeriesInstanceUID)
    ok(env, "create", "lab/brain", "--title", "Streaks")
    linked = ok(
        env, "link", "lab/brain", "1", "--series", uid, "--ref", "main", "--path", "ct/0.dcm", "-n", "streaks"
    )
    assert f"linked to #1: {uid} at {commit.id[:12]} (link 1)" in linked
    shown = ok(env, "show", "lab/brain", "1")
    assert f"link 1: {uid} at {commit.id[:12]} (main) ct/0.dcm — streaks" in shown
    assert "unlinked link 1 from #1" in ok(env, "unlink", "lab/brain", "1", "1")
    assert "series:" not in ok(env, "show", "lab/brain", "1")
