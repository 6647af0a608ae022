"""The datasheet template: offered on create (REST, SDK/CLI, portal) and on a dataset's home
page, committed as README.md, versioned with the data and rendered on the home page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from imagehub.cli.main import app
from imagehub.sdk.http import RemoteConflict
from imagehub.services import access, audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import PASSWORD, bearer, make_user
from tests.support.live_server import live_server

SECTIONS = (
    "Motivation",
    "Composition",
    "Collection process",
    "Preprocessing, de-identification and labelling",
    "Uses",
    "Distribution",
    "Maintenance",
)


@dataclass
class World:
    base: str
    http: httpx.Client
    platform: Platform
    tokens: dict[str, str]


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    tokens = {name: make_user(platform, name) for name in ("olga", "rita")}
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        yield World(base, http, platform, tokens)


def readme(world: World, full_name: str, ref: str = "main") -> httpx.Response:
    return world.http.get(
        f"/api/v1/datasets/{full_name}/refs/{ref}/objects/content",
        params={"path": "README.md"},
        headers=bearer(world.tokens["olga"]),
    )


def headings(markdown: str) -> list[str]:
    return re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)


def test_create_with_the_template(world: World) -> None:
    body = {"owner": "olga", "name": "brain", "description": "T1 MR of 40 volunteers", "datasheet": True}
    created = world.http.post("/api/v1/datasets", json=body, headers=bearer(world.tokens["olga"]))
    assert created.status_code == 201, created.text
    text = readme(world, "olga/brain").text
    assert text.startswith("# olga/brain\n\nT1 MR of 40 volunteers\n")
    assert headings(text) == list(SECTIONS)
    log = world.http.get(
        "/api/v1/datasets/olga/brain/log", params={"ref": "main"}, headers=bearer(world.tokens["olga"])
    ).json()
    assert [c["message"] for c in log["results"]] == ["Add a datasheet from the template", "Initial commit"]
    with world.platform.sessions() as session:
        [event] = audit.search(session, action="dataset.create", dataset="olga/brain", limit=5)
    assert event.details["datasheet"] is True


def test_without_the_template_the_first_version_is_empty(world: World) -> None:
    body = {"owner": "olga", "name": "bare"}
    assert (
        world.http.post("/api/v1/datasets", json=body, headers=bearer(world.tokens["olga"])).status_code
        == 201
    )
    assert readme(world, "olga/bare").status_code == 404


def test_add_to_a_branch_once_and_only_with_write_access(world: World) -> None:
    with world.platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="olga", name="ct", author="olga")
        access.grant(session, dataset=dataset, role="read", actor="olga", username="rita")
        datasets.repository(session, dataset).create_branch("docs", "main")
    url = "/api/v1/datasets/olga/ct/branches/docs/datasheet"
    refused = world.http.post(url, headers=bearer(world.tokens["rita"]))
    assert refused.status_code == 403
    added = world.http.post(url, headers=bearer(world.tokens["olga"]))
    assert added.status_code == 201, added.text
    assert added.json()["message"] == "Add a datasheet from the template"
    added_id = added.json()["id"]
    assert headings(readme(world, "olga/ct", "docs").text) == list(SECTIONS)
    assert readme(world, "olga/ct", "main").status_code == 404  # versioned: only on the branch
    again = world.http.post(url, headers=bearer(world.tokens["olga"]))
    with world.platform.sessions() as session:
        [recorded] = audit.search(session, action="datasheet.add", dataset="olga/ct", limit=5)
    assert (recorded.actor, recorded.ref, recorded.commit) == ("olga", "docs", added_id)
    assert again.status_code == 409
    assert "already has a datasheet (README.md)" in again.json()["detail"]


def test_cli_create_offers_the_template_by_default(world: World) -> None:
    env = {"IMAGEHUB_URL": world.base, "IMAGEHUB_TOKEN": world.tokens["olga"], "COLUMNS": "200"}
    made = CliRunner().invoke(app, ["create", "olga/lungs", "-d", "Chest CT"], env=env)
    assert made.exit_code == 0, made.output
    assert "created olga/lungs with a datasheet template in README.md" in made.output
    assert headings(readme(world, "olga/lungs").text) == list(SECTIONS)
    bare = CliRunner().invoke(app, ["create", "olga/plain", "--no-datasheet"], env=env)
    assert bare.exit_code == 0, bare.output
    assert readme(world, "olga/plain").status_code == 404
    taken = CliRunner().invoke(app, ["create", "olga/plain"], env=env)
    assert isinstance(taken.exception, RemoteConflict)  # main() prints it as one line
    assert "dataset olga/plain already exists" in str(taken.exception)


@contextmanager
def _signed_in(world: World, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.base) as client:
        response = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
        assert response.status_code == 303, response.text
        yield client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_portal_offers_the_template_on_create_and_renders_it(world: World) -> None:
    with _signed_in(world, "olga") as web:
        form = web.get("/new").text
        assert 'name="with_datasheet" value="true" checked' in form
        made = web.post(
            "/new",
            data={
                "owner": "olga",
                "name": "knee",
                "description": "Knee MR",
                "visibility": "private",
                "with_datasheet": "true",
                "csrf_token": _csrf(form),
            },
        )
        assert made.status_code == 303
        home = web.get(made.headers["location"], follow_redirects=True).text
        for section in SECTIONS:
            assert f"<h2>{section}</h2>" in home
        bare = web.post(
            "/new", data={"owner": "olga", "name": "hip", "visibility": "private", "csrf_token": _csrf(form)}
        )
        assert bare.status_code == 303
        offer = web.get("/olga/hip", follow_redirects=True).text
        assert 'id="add-datasheet"' in offer
        added = web.post("/olga/hip/datasheet/main", data={"csrf_token": _csrf(offer)})
        assert added.status_code == 303
        assert "<h2>Motivation</h2>" in web.get(added.headers["location"]).text
    with _signed_in(world, "rita") as stranger:
        taken = stranger.post(
            "/new", data={"owner": "olga", "name": "x", "csrf_token": _csrf(stranger.get("/new").text)}
        )
        assert taken.status_code == 403
