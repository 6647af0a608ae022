"""Every route the app registers, walked as an anonymous caller and as a user without
rights on a private dataset: none of them may answer with that dataset's data.

Routes added later are covered without editing this test."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from imagehub.services import audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from imagehub_api.errors import API_PREFIXES
from imagehub_api.security import Policy, anonymous_may_call, policy_of
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server

# Not a word any schema uses (webhooks have a "secret" field), so a hit is the dataset.
SECRET_NAME = "cohort-zx81"
SECRET_PATH = "patient-0042/series-1/ct-001.dcm"
SECRET_BYTES = b"SECRET-PIXELS-OF-PATIENT-0042"
PLACEHOLDERS = {
    "owner": "lab",
    "name": SECRET_NAME,
    "branch": "main",
    "tag": "v1",
    "ref": "main",
    "blob_id": "0" * 64,
    "token_id": "1",
    "request_id": "1",
    "hold_id": "1",
}
DENIED = {401, 403, 404}


@pytest.fixture
def app_and_base(platform: Platform) -> Iterator[tuple[object, str]]:
    owner_token = make_user(platform, "lab")
    del owner_token
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name=SECRET_NAME, author="lab", visibility="private")
    commit_files(platform, "lab", SECRET_NAME, "main", {SECRET_PATH: SECRET_BYTES})
    with platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name=SECRET_NAME))
        repo.create_tag("v1", "main")
    app = create_app(platform)
    with live_server(app) as base:
        yield app, base


def routes(app: object) -> list[tuple[str, str, object]]:
    found = []
    for ctx in iter_route_contexts(app.routes):  # type: ignore[attr-defined]
        for method in sorted(getattr(ctx, "methods", None) or []):
            if method in ("HEAD", "OPTIONS"):
                continue
            found.append((method, ctx.path, ctx.endpoint))
    return found


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PLACEHOLDERS.get(m[1], "x"), path)


def leaks(response: httpx.Response) -> bool:
    body = response.content
    return SECRET_BYTES in body or SECRET_PATH.encode() in body or f'"{SECRET_NAME}"'.encode() in body


def test_no_route_hands_a_private_dataset_to_strangers(
    app_and_base: tuple[object, str], platform: Platform
) -> None:
    app, base = app_and_base
    stranger = bearer(make_user(platform, "mallory"))
    walked = 0
    body = {
        "ref": "main",
        "source": "main",
        "destination": "main",
        "name": "x",
        "message": "m",
        "commit": "main",
    }
    docs = {app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url}  # type: ignore[attr-defined]
    for method, path, endpoint in routes(app):
        policy = Policy.PUBLIC if path in docs else policy_of(endpoint)
        url = base + fill(path)
        for who, headers in (("anonymous", {}), ("stranger", stranger)):
            response = httpx.request(
                method,
                url,
                headers=headers,
                json=body if method != "GET" else None,
                params={"ref": "main", "left": "main", "right": "main", "path": SECRET_PATH},
                timeout=30,
                follow_redirects=False,
            )
            assert not leaks(response), f"{who} {method} {path} leaked: {response.text[:200]}"
            dataset_route = "{owner}" in path and policy not in (Policy.PUBLIC, Policy.AUTHENTICATED)
            # Portal pages answer an anonymous browser with a redirect to the sign-in page.
            signed_out = 401 if path.startswith(API_PREFIXES) else 303
            denied = DENIED | {signed_out}
            if dataset_route or policy is Policy.SITE_ADMIN:
                assert response.status_code in denied, f"{who} {method} {path} -> {response.status_code}"
            if who == "anonymous" and policy is not Policy.PUBLIC:
                assert response.status_code == signed_out, (
                    f"anonymous {method} {path} -> {response.status_code}"
                )
                if signed_out == 303:
                    assert response.headers["location"].startswith("/login?next=")
            walked += 1
    assert walked > 100  # every API route and portal page, twice


def test_undeclared_routes_are_for_site_admins_only(platform: Platform) -> None:
    app = create_app(platform)

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "value"}

    token = make_user(platform, "someone")
    admin = make_user(platform, "root", admin=True)
    with live_server(app) as base:
        assert httpx.get(f"{base}/api/v1/forgotten").status_code == 401
        assert httpx.get(f"{base}/api/v1/forgotten", headers=bearer(token)).status_code == 403
        assert httpx.get(f"{base}/api/v1/forgotten", headers=bearer(admin)).status_code == 200


def test_anonymous_callers_read_public_datasets_and_nothing_more(platform: Platform) -> None:
    """Visibility decides what an anonymous caller reads: every read route of a public dataset
    answers them, every other dataset route (a comment too) asks them to sign in, and raw data stays closed
    to them even where its role is `read` and a purpose is stated."""
    make_user(platform, "lab")
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="atlas", author="lab", visibility="public")
        datasets.create(session, owner="lab", name="inside", author="lab", visibility="internal")
        datasets.get(session, owner="lab", name="atlas").phi_role = "read"
    commit_files(platform, "lab", "atlas", "main", {"atlas/ct-001.dcm": b"public pixels"})
    with platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="atlas"))
        repo.create_tag("v1", "main")
        repo.create_branch("raw", "main")
    commit_files(platform, "lab", "atlas", "raw", {"raw/ct-001.dcm": SECRET_BYTES})
    app = create_app(platform)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as anonymous:
        for method, path, endpoint in routes(app):
            policy = policy_of(endpoint)
            if "{owner}" not in path or policy in (Policy.PUBLIC, Policy.AUTHENTICATED):
                continue
            url = re.sub(r"\{name(:[^}]*)?\}", "atlas", path)
            response = anonymous.request(method, fill(url), json={"ref": "main"} if method != "GET" else None)
            asks_sign_in = response.status_code == 401 or response.headers.get("location", "").startswith(
                "/login"
            )
            if anonymous_may_call(endpoint, method):
                assert response.status_code < 500, f"{method} {path} -> {response.status_code}"
                assert not asks_sign_in, f"{method} {path} asks to sign in"
            else:
                assert asks_sign_in, f"{method} {path} -> {response.status_code}"
        assert anonymous.get("/lab/atlas?ref=main").status_code == 200
        assert anonymous.get("/api/v1/datasets/lab/atlas").json()["visibility"] == "public"
        for hidden in ("/api/v1/datasets/lab/inside", "/api/v1/datasets/lab/none"):
            assert anonymous.get(hidden).status_code == 401  # internal and absent read alike
        raw = anonymous.get("/api/v1/datasets/lab/atlas/refs/raw/objects", headers={"X-Purpose-Of-Use": "qa"})
        assert raw.status_code == 401
        assert anonymous.get("/lab/atlas/tree/raw").headers["location"].startswith("/login?next=")
    with platform.sessions.begin() as session:
        assert audit.search(session, action="phi.open", dataset="lab/atlas", limit=5) == []
