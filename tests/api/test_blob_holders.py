"""A blob id is not a key to its bytes: only who uploaded a blob may name it in a commit,
and the have/want answer tells nobody what anyone else stored."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from imagehub.services import access, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.live_server import live_server

SECRET = b"alice's private scan " * 1000
SECRET_ID = hashlib.sha256(SECRET).hexdigest()
ALICE, DAVE = "/api/v1/datasets/alice/secret", "/api/v1/datasets/dave/mine"


@dataclass
class Hub:
    http: httpx.Client
    tokens: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])

    def put(self, who: str, dataset: str, path: str, blob: str, size: int) -> httpx.Response:
        body = {
            "message": f"{who} adds {path}",
            "changes": {"put": [{"path": path, "blob": blob, "size": size}]},
        }
        return self.http.post(f"{dataset}/branches/main/commits", json=body, headers=self.as_(who))


@pytest.fixture
def hub(platform: Platform) -> Iterator[Hub]:
    tokens = {who: make_user(platform, who) for who in ("alice", "bob", "dave")}
    with platform.sessions.begin() as session:
        secret = datasets.create(session, owner="alice", name="secret", author="alice")
        datasets.create(session, owner="dave", name="mine", author="dave")
        access.grant(session, dataset=secret, role="write", actor="alice", username="bob")
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        hub = Hub(http, tokens)
        stored = http.put(f"{ALICE}/blobs/{SECRET_ID}", content=SECRET, headers=hub.as_("alice"))
        assert stored.status_code == 201
        assert hub.put("alice", ALICE, "scan.dcm", SECRET_ID, len(SECRET)).status_code == 201
        yield hub


def test_an_id_alone_opens_nothing(hub: Hub) -> None:
    asked = hub.http.post(f"{DAVE}/blobs/missing", json={"blobs": [SECRET_ID]}, headers=hub.as_("dave"))
    assert asked.json()["missing"] == [SECRET_ID]  # as for bytes nobody stored
    refused = hub.put("dave", DAVE, "stolen.dcm", SECRET_ID, len(SECRET))
    assert refused.status_code == 409
    assert refused.json()["missing"] == [SECRET_ID]
    started = hub.http.post(
        f"{DAVE}/uploads", json={"blob": SECRET_ID, "size": len(SECRET)}, headers=hub.as_("dave")
    )
    assert started.status_code == 201  # an upload to make, though the server has the bytes
    upload = started.json()["id"]
    forged = b"x" * len(SECRET)
    sent = hub.http.put(f"{DAVE}/uploads/{upload}?offset=0", content=forged, headers=hub.as_("dave"))
    assert sent.status_code == 200
    done = hub.http.post(f"{DAVE}/uploads/{upload}/complete", headers=hub.as_("dave"))
    assert done.status_code == 422  # the right size is no proof: the bytes are hashed
    assert hub.put("dave", DAVE, "stolen.dcm", SECRET_ID, len(SECRET)).status_code == 409


def test_whoever_holds_the_bytes_commits_them_without_storing_them_twice(hub: Hub) -> None:
    again = hub.http.put(f"{DAVE}/blobs/{SECRET_ID}", content=SECRET, headers=hub.as_("dave"))
    assert again.status_code == 201
    assert hub.put("dave", DAVE, "mine.dcm", SECRET_ID, len(SECRET)).status_code == 201
    asked = hub.http.post(f"{DAVE}/blobs/missing", json={"blobs": [SECRET_ID]}, headers=hub.as_("dave"))
    assert asked.json()["missing"] == []


def test_a_writer_keeps_paths_as_they_are_but_copies_only_what_they_uploaded(hub: Hub) -> None:
    other = b"bob's own file"
    other_id = hashlib.sha256(other).hexdigest()
    assert hub.http.put(f"{ALICE}/blobs/{other_id}", content=other, headers=hub.as_("bob")).status_code == 201
    body = {
        "message": "bob adds a file and restates the scan",
        "changes": {
            "put": [
                {"path": "scan.dcm", "blob": SECRET_ID, "size": len(SECRET)},
                {"path": "bob.dcm", "blob": other_id, "size": len(other)},
            ]
        },
    }
    made = hub.http.post(f"{ALICE}/branches/main/commits", json=body, headers=hub.as_("bob"))
    assert made.status_code == 201, made.text
    assert hub.put("bob", ALICE, "copy-of-scan.dcm", SECRET_ID, len(SECRET)).status_code == 409
    assert hub.put("alice", ALICE, "copy-of-scan.dcm", SECRET_ID, len(SECRET)).status_code == 201


def test_an_oversized_chunk_is_refused_before_it_is_read(hub: Hub) -> None:
    started = hub.http.post(f"{DAVE}/uploads", json={"blob": "0" * 64, "size": 10}, headers=hub.as_("dave"))
    declared = {**hub.as_("dave"), "Content-Length": str(65 * 1024 * 1024)}

    def endless() -> Iterator[bytes]:
        yield b"\0" * (65 * 1024 * 1024)

    sent = hub.http.put(
        f"{DAVE}/uploads/{started.json()['id']}?offset=0", content=endless(), headers=declared
    )
    assert sent.status_code == 413
