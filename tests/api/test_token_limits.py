"""An API token is only as strong as it says: its scope and dataset limit bind every route,
site-wide ones included, and it cannot mint a wider token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from imagehub.services import accounts, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.live_server import live_server

TOKENS = "/api/v1/auth/tokens"


@dataclass
class Site:
    http: httpx.Client
    platform: Platform

    def token(self, user: str, scope: str, dataset: str | None = None) -> str:
        """A token of ``user``'s, made with the services (as an administrator's CLI would)."""
        with self.platform.sessions.begin() as session:
            dataset_id = None
            if dataset:
                owner, _, name = dataset.partition("/")
                dataset_id = datasets.get(session, owner=owner, name=name).id
            owner_user = accounts.get_user(session, user)
            made = accounts.create_token(
                session, user=owner_user, name=scope, scope=scope, actor="test", dataset_id=dataset_id
            )
            return made.secret


@pytest.fixture
def site(platform: Platform) -> Iterator[Site]:
    make_user(platform, "root", admin=True)
    make_user(platform, "alice")
    make_user(platform, "dave")
    with platform.sessions.begin() as session:
        datasets.create(session, owner="alice", name="secret", author="alice")
        datasets.create(session, owner="alice", name="pub", author="alice", visibility="public")
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        yield Site(http, platform)


def test_a_token_cannot_issue_a_wider_one(site: Site) -> None:
    read = bearer(site.token("alice", "read"))
    assert site.http.post(TOKENS, json={"name": "up", "scope": "admin"}, headers=read).status_code == 403
    assert site.http.post(TOKENS, json={"name": "same", "scope": "read"}, headers=read).status_code == 201
    limited = bearer(site.token("alice", "admin", dataset="alice/pub"))
    unlimited = site.http.post(TOKENS, json={"name": "all", "scope": "admin"}, headers=limited)
    assert unlimited.status_code == 403
    elsewhere = {"name": "other", "scope": "read", "dataset": "alice/secret"}
    assert site.http.post(TOKENS, json=elsewhere, headers=limited).status_code == 404  # cannot see it
    same = {"name": "same", "scope": "write", "dataset": "alice/pub"}
    assert site.http.post(TOKENS, json=same, headers=limited).status_code == 201


def test_a_token_cannot_learn_of_a_private_dataset(site: Site) -> None:
    dave = bearer(site.token("dave", "admin"))
    for name in ("alice/secret", "alice/none"):
        probe = site.http.post(TOKENS, json={"name": "p", "scope": "read", "dataset": name}, headers=dave)
        assert probe.status_code == 404, name
        assert probe.json()["detail"] == f"dataset {name} not found"


def test_narrow_tokens_create_no_datasets(site: Site) -> None:
    for scope, dataset in (("read", None), ("admin", "alice/pub")):
        headers = bearer(site.token("alice", scope, dataset))
        made = site.http.post("/api/v1/datasets", json={"owner": "alice", "name": "new"}, headers=headers)
        assert made.status_code == 403, (scope, dataset)
    full = bearer(site.token("alice", "write"))
    assert (
        site.http.post("/api/v1/datasets", json={"owner": "alice", "name": "new"}, headers=full).status_code
        == 201
    )


def test_an_administrators_narrow_token_has_no_site_powers(site: Site) -> None:
    hold = {"reason": "litigation"}
    for scope, dataset in (("read", None), ("write", None), ("admin", "alice/pub")):
        headers = bearer(site.token("root", scope, dataset))
        assert site.http.get("/api/v1/admin/audit/export", headers=headers).status_code == 403
        assert site.http.post("/api/v1/admin/legal-holds", json=hold, headers=headers).status_code == 403
        elsewhere = site.http.post("/api/v1/datasets", json={"owner": "dave", "name": "x"}, headers=headers)
        assert elsewhere.status_code == 403
    full = bearer(site.token("root", "admin"))
    assert site.http.get("/api/v1/admin/audit/export", headers=full).status_code == 200
    assert site.http.post("/api/v1/admin/legal-holds", json=hold, headers=full).status_code == 201


def test_values_no_column_can_hold_are_refused_not_crashes(site: Site) -> None:
    alice = bearer(site.token("alice", "admin"))
    huge = "99999999999999999999"
    for method, url in (
        ("GET", f"/api/v1/datasets?after={huge}"),
        ("GET", f"/api/v1/datasets/alice/secret/issues/{huge}"),
        ("DELETE", f"{TOKENS}/{huge}"),
    ):
        answer = site.http.request(method, url, headers=alice)
        assert answer.status_code in (404, 422), (method, url, answer.status_code)
    surrogate = b'{"owner": "alice", "name": "odd", "description": "\\ud800"}'
    odd = site.http.post(
        "/api/v1/datasets", content=surrogate, headers={**alice, "Content-Type": "application/json"}
    )
    assert odd.status_code == 422
    assert "not valid Unicode" in odd.json()["detail"]
    nul = site.http.post(
        "/api/v1/datasets", json={"owner": "alice", "name": "nul", "description": "a\x00b"}, headers=alice
    )
    assert nul.status_code in (201, 422)  # SQLite stores a NUL; PostgreSQL refuses it, cleanly
    portal = site.http.get(f"/?after={huge}")
    assert portal.status_code in (200, 422)
