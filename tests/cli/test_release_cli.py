"""`imagehub release ...` against a live server, through the main CLI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from imagehub.cli.main import app
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
    commit_files(platform, "lab", "brain", "main", {"a.dcm": b"A", "b.dcm": b"BB"})
    with live_server(create_app(platform)) as url:
        yield {"IMAGEHUB_URL": url, "IMAGEHUB_TOKEN": token, "COLUMNS": "200"}


def release(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["release", *args], env=env)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_create_list_show_cite(env: dict[str, str]) -> None:
    created = release(
        env, "create", "lab/brain", "--tag", "v1.0", "--title", "First release", "--author", "Ada L"
    )
    assert created.exit_code == 0, created.output
    assert "v1.0" in created.output
    assert "First release" in release(env, "list", "lab/brain").output
    shown = release(env, "show", "lab/brain", "v1.0")
    assert shown.exit_code == 0, shown.output
    assert "imagehub clone lab/brain --ref v1.0" in shown.output
    cff = release(env, "cite", "lab/brain", "v1.0", "--format", "cff")
    assert "cff-version: 1.2.0" in cff.output
    assert "Ada L" in cff.output
    bibtex = release(env, "cite", "lab/brain", "v1.0", "--format", "bibtex")
    assert bibtex.output.lstrip().startswith("@misc{lab_brain_v1_0")
    again = release(env, "create", "lab/brain", "--tag", "v1.0", "--title", "Again")
    assert again.exit_code != 0
