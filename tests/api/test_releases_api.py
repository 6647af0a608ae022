"""Releases over HTTP, against a live server: the round trip, roles and citations."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import yaml

from imagehub.services import access, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server

RELEASES = "/api/v1/datasets/olga/brain/releases"


@pytest.fixture
def world(platform: Platform) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """olga owns olga/brain; rita may read, eve is a stranger."""
    tokens = {name: make_user(platform, name) for name in ("olga", "rita", "eve")}
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="olga", name="brain", author="olga")
        access.grant(session, dataset=dataset, role="read", actor="olga", username="rita")
    commit_files(platform, "olga", "brain", "main", {"a.dcm": b"A"})
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        yield http, tokens


def test_round_trip(world: tuple[httpx.Client, dict[str, str]]) -> None:
    http, tokens = world
    body = {"ref": "main", "tag": "v1.0", "title": "First", "authors": ["Ada Lovelace"], "doi": "10.1234/x"}
    created = http.post(RELEASES, json=body, headers=bearer(tokens["olga"]))
    assert created.status_code == 201, created.text
    assert created.json()["summary"]["files"] == 1
    assert http.post(RELEASES, json=body, headers=bearer(tokens["olga"])).status_code == 409
    listed = http.get(RELEASES, headers=bearer(tokens["rita"])).json()["results"]
    assert [r["tag"] for r in listed] == ["v1.0"]
    assert http.get(f"{RELEASES}/v1.0", headers=bearer(tokens["rita"])).json()["title"] == "First"
    cff = http.get(f"{RELEASES}/v1.0/citation", headers=bearer(tokens["rita"]))
    assert cff.status_code == 200
    assert cff.headers["content-type"].startswith("text/plain")
    assert "CITATION.cff" in cff.headers["content-disposition"]
    assert yaml.safe_load(cff.text)["url"].endswith("/olga/brain/releases/v1.0")
    bib = http.get(f"{RELEASES}/v1.0/citation", params={"format": "bibtex"}, headers=bearer(tokens["rita"]))
    assert "v1.0.bib" in bib.headers["content-disposition"]
    assert "author = {Ada Lovelace}" in bib.text

    same_doi = {**body, "tag": "v1.1", "title": "Second"}
    refused = http.post(RELEASES, json=same_doi, headers=bearer(tokens["olga"]))
    assert (refused.status_code, "already names release 'v1.0'" in refused.json()["detail"]) == (409, True)
    branch_name = {"ref": "main", "tag": "main", "title": "Named like the branch"}
    clash = http.post(RELEASES, json=branch_name, headers=bearer(tokens["olga"]))
    assert clash.status_code == 409
    assert "no tag or branch has" in clash.json()["detail"]
    odd = {"ref": "main", "tag": "v2", "title": "T", "authors": ["A\\B {x}"]}
    assert http.post(RELEASES, json=odd, headers=bearer(tokens["olga"])).status_code == 201
    bib = http.get(f"{RELEASES}/v2/citation", params={"format": "bibtex"}, headers=bearer(tokens["rita"]))
    assert "author = {A\\textbackslash{}B \\{x\\}}" in bib.text


def test_roles(world: tuple[httpx.Client, dict[str, str]]) -> None:
    http, tokens = world
    body = {"ref": "main", "tag": "v1", "title": "T"}
    assert http.post(RELEASES, json=body, headers=bearer(tokens["rita"])).status_code == 403
    assert http.get(RELEASES, headers=bearer(tokens["eve"])).status_code == 404
