"""The versioning REST API on a live server: what a client sees, errors included."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import event, text

from imagehub.core.vcs import ChangeSet, Entry
from imagehub.services import datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from imagehub_api.routes import blobs as blobs_routes
from tests.support.accounts import bearer, make_user
from tests.support.live_server import live_server
from tests.support.postgres import set_lock_timeout

DS = "/api/v1/datasets/lab/brain"


@pytest.fixture
def client(platform: Platform) -> Iterator[httpx.Client]:
    token = make_user(platform, "lab")
    with (
        live_server(create_app(platform)) as base,
        httpx.Client(base_url=base, timeout=30, headers=bearer(token)) as http,
    ):
        created = http.post(
            "/api/v1/datasets", json={"owner": "lab", "name": "brain", "description": "T1 MRI"}
        )
        assert created.status_code == 201, created.text
        yield http


def upload(http: httpx.Client, content: bytes) -> dict[str, object]:
    blob = hashlib.sha256(content).hexdigest()
    response = http.put(f"{DS}/blobs/{blob}", content=content)
    assert response.status_code == 201, response.text
    return {"blob": blob, "size": len(content)}


def commit(
    http: httpx.Client, branch: str, files: dict[str, bytes | None], **extra: object
) -> httpx.Response:
    puts = [
        {"path": p, **upload(http, c), "media_type": "application/dicom"}
        for p, c in files.items()
        if c is not None
    ]
    deletes = [p for p, c in files.items() if c is None]
    body = {"message": "update", "changes": {"put": puts, "delete": deletes}, **extra}
    return http.post(f"{DS}/branches/{branch}/commits", json=body)


def _chunked(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    """A body without a declared length, arriving in pieces, as a streaming client sends it."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_uploads_below_and_above_the_in_memory_limit_store_exact_bytes(client: httpx.Client) -> None:
    small, large = os.urandom(300_000), os.urandom(blobs_routes.SPOOL_IN_MEMORY + 123_457)
    for content in (small, large):
        blob = hashlib.sha256(content).hexdigest()
        assert client.put(f"{DS}/blobs/{blob}", content=_chunked(content)).status_code == 201
    records = [os.urandom(6_000_000 + i) for i in range(3)]  # past the bundle's in-memory limit
    records.append(os.urandom(1000))
    body = b"".join(hashlib.sha256(r).hexdigest().encode() + len(r).to_bytes(8, "big") + r for r in records)
    assert len(body) > blobs_routes.BUNDLE_IN_MEMORY
    stored = client.post(f"{DS}/blobs/bundle", content=_chunked(body))
    assert stored.status_code == 201, stored.text
    assert stored.json() == {"stored": 4, "bytes": sum(len(r) for r in records)}
    every = [small, large, *records]
    missing = client.post(
        f"{DS}/blobs/missing", json={"blobs": [hashlib.sha256(c).hexdigest() for c in every]}
    )
    assert missing.json() == {"missing": []}
    files = {f"f{i}.bin": c for i, c in enumerate(every)}
    made = commit(client, "main", files)
    assert made.status_code == 201, made.text
    for path, content in files.items():
        got = client.get(f"{DS}/refs/main/objects/content", params={"path": path})
        assert got.content == content

    liar = os.urandom(blobs_routes.SPOOL_IN_MEMORY + 10)
    wrong = client.put(f"{DS}/blobs/{'ab' * 32}", content=_chunked(liar))
    assert wrong.status_code == 422
    assert client.post(f"{DS}/blobs/missing", json={"blobs": ["ab" * 32]}).json() == {"missing": ["ab" * 32]}


def test_full_round_trip(client: httpx.Client) -> None:
    dataset = client.get(DS).json()
    assert dataset["full_name"] == "lab/brain"
    assert dataset["default_branch"] == "main"
    first = commit(client, "main", {"s1/a.dcm": b"0123456789", "s1/b.dcm": b"bbb"})
    assert first.status_code == 201, first.text
    first_id = first.json()["id"]
    assert first.json()["parents"] == [dataset["head"]]

    listing = client.get(f"{DS}/refs/main/objects", params={"prefix": "s1/", "limit": 1}).json()
    assert [e["path"] for e in listing["results"]] == ["s1/a.dcm"]
    page2 = client.get(
        f"{DS}/refs/main/objects", params={"prefix": "s1/", "after": listing["next_after"]}
    ).json()
    assert [e["path"] for e in page2["results"]] == ["s1/b.dcm"]

    whole = client.get(f"{DS}/refs/main/objects/content", params={"path": "s1/a.dcm"})
    assert whole.status_code == 200
    assert whole.content == b"0123456789"
    part = client.get(
        f"{DS}/refs/main/objects/content", params={"path": "s1/a.dcm"}, headers={"Range": "bytes=2-5"}
    )
    assert part.status_code == 206
    assert part.content == b"2345"
    assert part.headers["content-range"] == "bytes 2-5/10"
    bad_range = client.get(
        f"{DS}/refs/main/objects/content", params={"path": "s1/a.dcm"}, headers={"Range": "bytes=50-"}
    )
    assert bad_range.status_code == 416
    assert bad_range.headers["content-range"] == "bytes */10"

    assert client.post(f"{DS}/branches", json={"name": "fix", "source": "main"}).status_code == 201
    assert commit(client, "fix", {"s1/b.dcm": None, "s2/c.dcm": b"c"}).status_code == 201
    diff = client.get(f"{DS}/diff", params={"left": "main", "right": "fix"}).json()["results"]
    assert [(d["path"], d["type"]) for d in diff] == [("s1/b.dcm", "removed"), ("s2/c.dcm", "added")]

    merged = client.post(f"{DS}/merges", json={"source": "fix", "destination": "main"})
    assert merged.status_code == 201, merged.text
    assert merged.json()["parents"][1] == client.get(f"{DS}/branches/fix").json()["commit_id"]
    log = client.get(f"{DS}/log", params={"ref": "main"}).json()["results"]
    assert client.get(f"{DS}/log").status_code == 422  # the ref to read is always named
    assert [c["id"] for c in log][-2:] == [first_id, dataset["head"]]
    assert client.get(f"{DS}/commits/main~1").json()["id"] in {first_id, log[1]["id"]}


def test_conflicts_are_409_with_details(client: httpx.Client) -> None:
    commit(client, "main", {"x": b"base"})
    client.post(f"{DS}/branches", json={"name": "other", "source": "main"})
    head = client.get(f"{DS}/branches/main").json()["commit_id"]
    commit(client, "main", {"x": b"ours"})
    commit(client, "other", {"x": b"theirs"})
    conflict = client.post(f"{DS}/merges", json={"source": "other", "destination": "main"})
    assert conflict.status_code == 409
    assert [c["path"] for c in conflict.json()["conflicts"]] == ["x"]
    stale = commit(client, "main", {"y": b"y"}, expected_parent=head)
    assert stale.status_code == 409
    assert "pull and retry" in stale.json()["detail"]
    missing = client.post(
        f"{DS}/branches/main/commits",
        json={"message": "m", "changes": {"put": [{"path": "z", "blob": "a" * 64, "size": 1}]}},
    )
    assert missing.status_code == 409
    assert missing.json()["missing"] == ["a" * 64]
    assert client.post(f"{DS}/tags", json={"name": "v1", "ref": "main"}).status_code == 201
    assert client.post(f"{DS}/tags", json={"name": "v1", "ref": "other"}).status_code == 409
    client.put(f"{DS}/branches/main/protection", json={"protected": True})
    assert commit(client, "main", {"p": b"p"}).status_code == 409


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("get", "/api/v1/datasets/lab/nope", None, 404),
        ("get", f"{DS}/commits/unknown-ref", None, 404),
        ("get", f"{DS}/refs/main/objects/stat?path=absent.dcm", None, 404),
        ("post", f"{DS}/branches", {"name": "bad name", "source": "main"}, 422),
        ("post", f"{DS}/branches", {"name": "ok", "source": "missing"}, 404),
        ("post", "/api/v1/datasets", {"owner": "lab", "name": "../x"}, 422),
        ("post", "/api/v1/datasets", {"owner": "lab", "name": "brain"}, 409),
        ("get", f"{DS}/refs/main/objects/content?path=../../etc/passwd", None, 404),
        (
            "post",
            f"{DS}/branches/main/commits",
            {"message": "m", "changes": {"put": [{"path": "../escape", "blob": "a" * 64, "size": 1}]}},
            422,
        ),
        ("post", f"{DS}/branches/main/commits", {"message": "m"}, 422),
        ("post", f"{DS}/branches", {"name": "main\n", "source": "main"}, 422),
        ("post", f"{DS}/branches", {"name": "ad75ab03", "source": "main"}, 422),  # reads as a commit id
        ("post", f"{DS}/tags", {"name": "a" * 64, "ref": "main"}, 422),
        ("post", "/api/v1/datasets", {"owner": "lab", "name": "brain2\n"}, 422),
        ("get", f"{DS}/refs/main/objects?prefix=%F4%8F%BF%BF", None, 200),
        ("get", f"{DS}/diff?left=main&right=main&prefix=a%F4%8F%BF%BF", None, 200),
        ("put", f"{DS}/blobs/{'0' * 64}", None, 422),
        ("delete", f"{DS}/branches/main", None, 409),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isalpha() else None,
)
def test_clear_4xx_errors(client: httpx.Client, method: str, url: str, body: object, status: int) -> None:
    kwargs = {"json": body} if body is not None else {"content": b"not-zero-bytes"} if method == "put" else {}
    response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert status == 200 or "detail" in response.json()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_path_that_is_not_valid_unicode_is_refused(client: httpx.Client) -> None:
    stored = upload(client, b"x")
    body = '{"message": "m", "changes": {"put": [{"path": "s\\ud800x", "blob": "%s", "size": 1}]}}'
    response = client.post(
        f"{DS}/branches/main/commits",
        content=(
            body % stored["blob"]
        ).encode(),  # JSON may escape a lone surrogate; httpx would not encode it
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_commit_must_give_each_blob_its_true_size(client: httpx.Client) -> None:
    """A wrong size would make every download of the path end early or come up short."""
    stored = upload(client, b"0123456789")
    for size in (999, 3, 2**70):
        body = {
            "message": "m",
            "changes": {"put": [{"path": "scan.dcm", "blob": stored["blob"], "size": size}]},
        }
        response = client.post(f"{DS}/branches/main/commits", json=body)
        assert response.status_code == 422, response.text
    assert client.get(f"{DS}/refs/main/objects").json()["results"] == []
    body = {"message": "m", "changes": {"put": [{"path": "scan.dcm", **stored}]}}
    assert client.post(f"{DS}/branches/main/commits", json=body).status_code == 201
    assert client.get(f"{DS}/refs/main/objects/content", params={"path": "scan.dcm"}).content == b"0123456789"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_expected_parent_that_cannot_name_a_commit_is_refused(client: httpx.Client) -> None:
    head = client.get(f"{DS}/branches/main").json()["commit_id"]
    for guess in ("", head[:1], head[:6], head.upper(), head + "00", "mainbranch"):
        response = commit(client, "main", {"x": b"x"}, expected_parent=guess)
        assert response.status_code == 422, (guess, response.text)
    assert client.get(f"{DS}/branches/main").json()["commit_id"] == head
    assert commit(client, "main", {"x": b"x"}, expected_parent=head[:7]).status_code == 201


def test_a_write_is_visible_to_the_very_next_request(client: httpx.Client, platform: Platform) -> None:
    # A slow commit makes the race certain if the response were sent before committing.
    def slow_commit(_session: object) -> None:
        time.sleep(0.2)

    event.listen(platform.sessions, "before_commit", slow_commit)
    for i in range(3):
        assert client.post(f"{DS}/branches", json={"name": f"b{i}", "source": "main"}).status_code == 201
        assert client.get(f"{DS}/branches/b{i}").status_code == 200
        assert client.delete(f"{DS}/branches/b{i}").status_code == 204
        assert client.get(f"{DS}/branches/b{i}").status_code == 404


def test_soft_delete_and_restore(client: httpx.Client, platform: Platform) -> None:
    commit(client, "main", {"a": b"a"})
    assert client.delete(DS).status_code == 204
    assert client.get(DS).status_code == 404
    assert [d["name"] for d in client.get("/api/v1/datasets").json()["results"]] == []
    assert client.post(f"{DS}/restore").status_code == 403  # site administrators only
    admin = bearer(make_user(platform, "root", admin=True))
    assert client.post(f"{DS}/restore", headers=admin).status_code == 200
    assert client.get(f"{DS}/refs/main/objects/stat", params={"path": "a"}).status_code == 200


def test_a_deleted_dataset_whose_name_was_reused_can_still_be_restored(
    client: httpx.Client, platform: Platform
) -> None:
    admin = bearer(make_user(platform, "root", admin=True))
    commit(client, "main", {"a": b"the original data"})
    original = client.get(DS).json()["id"]
    assert client.delete(DS).status_code == 204
    assert client.post("/api/v1/datasets", json={"owner": "lab", "name": "brain"}).status_code == 201
    taken = client.post(f"{DS}/restore", headers=admin)
    assert taken.status_code == 409
    assert "delete it first" in taken.json()["detail"]
    assert client.delete(DS).status_code == 204
    listed = client.get(f"{DS}/deleted", headers=admin).json()["results"]
    assert [d["id"] for d in listed][1] == original  # the reused name was deleted last
    restored = client.post(f"{DS}/restore", params={"id": original}, headers=admin)
    assert restored.status_code == 200, restored.text
    content = client.get(f"{DS}/refs/main/objects/content", params={"path": "a"}).content
    assert content == b"the original data"
    assert client.post(f"{DS}/restore", params={"id": original}, headers=admin).status_code == 404
    assert client.get(f"{DS}/deleted").status_code == 403


def test_derive_and_revert(client: httpx.Client) -> None:
    commit(client, "main", {"t1/a": b"a", "t2/b": b"b"})
    bad = commit(client, "main", {"t1/a": b"broken"}).json()
    derived = client.post(
        f"{DS}/derive", json={"owner": "lab", "name": "t2", "ref": "main~1", "prefixes": ["t2/"]}
    )
    assert derived.status_code == 201, derived.text
    objects = client.get("/api/v1/datasets/lab/t2/refs/main/objects").json()["results"]
    assert [o["path"] for o in objects] == ["t2/b"]
    reverted = client.post(f"{DS}/branches/main/revert", json={"commit": bad["id"]})
    assert reverted.status_code == 201, reverted.text
    content = client.get(f"{DS}/refs/main/objects/content", params={"path": "t1/a"}).content
    assert content == b"a"
    again = client.post(f"{DS}/branches/main/revert", json={"commit": bad["id"]})
    assert again.status_code == 422  # already undone: no empty commit
    assert "nothing to revert" in again.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_datasets_are_created_only_under_owners_that_exist(client: httpx.Client, platform: Platform) -> None:
    admin = bearer(make_user(platform, "root", admin=True))
    ghost = client.post("/api/v1/datasets", json={"owner": "ghost", "name": "ds"}, headers=admin)
    assert ghost.status_code == 404
    assert "no user or organisation named 'ghost'" in ghost.json()["detail"]
    assert (
        client.post("/api/v1/datasets", json={"owner": "lab", "name": "ds"}, headers=admin).status_code == 201
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_transfer_requests_are_checked(client: httpx.Client) -> None:
    assert client.post(f"{DS}/blobs/missing", json={"blobs": ["nothex"]}).status_code == 422
    content = b"twice"
    blob = hashlib.sha256(content).hexdigest().encode()
    record = blob + len(content).to_bytes(8, "big") + content
    sent = client.post(f"{DS}/blobs/bundle", content=record * 2)
    assert sent.status_code == 201, sent.text
    assert sent.json() == {"stored": 1, "bytes": len(content)}
    wipe = {"message": "m", "changes": {"delete_prefix": [""]}}
    assert client.post(f"{DS}/branches/main/commits", json=wipe).status_code == 422
    stored = upload(client, b"with a summary")
    body = '{"message": "m", "changes": {"put": [{"path": "a", "blob": "%s", "size": %d, "summary": %s}]}}'
    response = client.post(
        f"{DS}/branches/main/commits",
        content=(body % (stored["blob"], stored["size"], '{"x": [NaN]}')).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text


def test_every_versioning_route_is_documented(client: httpx.Client) -> None:
    spec = client.get("/api/openapi.json").json()
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    for expected in (
        "datasets-create",
        "datasets-list",
        "datasets-get",
        "datasets-delete",
        "datasets-restore",
        "datasets-derive",
        "refs-create-branch",
        "refs-protect-branch",
        "refs-create-tag",
        "versions-commit",
        "versions-log",
        "versions-list-objects",
        "versions-get-object",
        "versions-diff",
        "versions-merge",
        "versions-revert",
        "blobs-upload",
        "blobs-missing",
    ):
        assert expected in operations
    by_id = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for operation_id, operation in by_id.items():
        if operation.get("tags") != ["portal"] and operation_id.startswith(
            ("datasets-", "versions-", "blobs-")
        ):
            for status in ("404", "409", "422"):
                assert operation["responses"][status]["content"]["application/json"]["schema"] == error
    download = by_id["versions-get-object"]["responses"]
    assert "application/octet-stream" in download["206"]["content"]
    assert "416" in download
    assert "application/octet-stream" in by_id["blobs-upload"]["requestBody"]["content"]
    odd_key = client.post(
        "/api/v1/datasets",
        content=b'{"owner": ["\\ud800"], "name": "x", "\\ud800": 1}',
        headers={"content-type": "application/json"},
    )
    assert odd_key.status_code == 422
    malformed = client.post(f"{DS}/merges", json={"source": "main", "destination": "main", "strategy": "x"})
    assert malformed.status_code == 422
    assert malformed.json()["error"] == "RequestValidationError"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_write_turned_away_for_a_concurrent_one_is_503_and_changes_nothing(
    client: httpx.Client, platform: Platform
) -> None:
    """PostgreSQL gives up on a lock after ``lock_timeout`` here, as it aborts one side of a
    deadlock: the client is told to retry, and the retry goes through."""
    set_lock_timeout(platform.engine, "300ms")
    head = client.get(f"{DS}/branches/main").json()["commit_id"]
    with platform.engine.connect() as holder:  # a concurrent writer holding the branch
        holder.execute(text("SELECT id FROM vcs_refs WHERE name = 'main' FOR UPDATE"))
        refused = commit(client, "main", {"a.dcm": b"first"})
        holder.rollback()
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "Contention"
    assert client.get(f"{DS}/branches/main").json()["commit_id"] == head
    retried = commit(client, "main", {"a.dcm": b"first"})
    assert retried.status_code == 201, retried.text
    assert client.get(f"{DS}/branches/main").json()["commit_id"] == retried.json()["id"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("headers", "status", "body", "content_range"),
    [
        ({"Range": "bytes=-3"}, 206, b"789", "bytes 7-9/10"),
        ({"Range": "BYTES=0-0"}, 206, b"0", "bytes 0-0/10"),
        ({"Range": "bytes=8-100"}, 206, b"89", "bytes 8-9/10"),
        ({"Range": "bytes=-0"}, 416, None, "bytes */10"),
        ({"Range": "bytes=5-2"}, 416, None, "bytes */10"),
        ({"Range": "bytes=0-0,5-6"}, 200, b"0123456789", None),  # several ranges: the whole body
        ({"Range": "items=0-1"}, 200, b"0123456789", None),  # a unit it does not know: ignored
        ({"Range": "bytes=2-3", "If-Range": '"not-this-version"'}, 200, b"0123456789", None),
        ({"Range": "bytes=4-" + "9" * 5000}, 206, b"456789", "bytes 4-9/10"),
        ({"Range": "bytes=" + "9" * 5000 + "-"}, 416, None, "bytes */10"),
    ],
)
def test_range_requests_follow_http(
    client: httpx.Client, headers: dict[str, str], status: int, body: bytes | None, content_range: str | None
) -> None:
    assert commit(client, "main", {"a.dcm": b"0123456789", "empty.dcm": b""}).status_code == 201
    url = f"{DS}/refs/main/objects/content"
    response = client.get(url, params={"path": "a.dcm"}, headers=headers)
    assert response.status_code == status, response.text
    if body is not None:
        assert response.content == body
    assert response.headers.get("content-range") == content_range
    etag = client.get(url, params={"path": "a.dcm"}).headers["etag"]
    same = client.get(url, params={"path": "a.dcm"}, headers={"Range": "bytes=2-3", "If-Range": etag})
    assert (same.status_code, same.content) == (206, b"23")
    empty = client.get(url, params={"path": "empty.dcm"}, headers={"Range": "bytes=-5"})
    assert (empty.status_code, empty.headers["content-range"]) == (416, "bytes */0")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_upload_cannot_record_a_stored_blob_under_a_wrong_size(
    client: httpx.Client, platform: Platform
) -> None:
    """Bytes already in the store (left by a refused commit, say) keep their true size: a
    session declaring another is refused, and a later commit of the real content goes in."""
    content = b"the real bytes of a file"
    blob = hashlib.sha256(content).hexdigest()
    platform.store.put(f"blobs/{blob[:2]}/{blob[2:4]}/{blob}", content)  # stored, never recorded
    started = client.post(f"{DS}/uploads", json={"blob": blob, "size": 3}).json()
    client.put(f"{DS}/uploads/{started['id']}", params={"offset": 0}, content=b"xyz")
    assert client.post(f"{DS}/uploads/{started['id']}/complete").status_code == 422
    body = {"message": "m", "changes": {"put": [{"path": "a", **upload(client, content)}]}}
    assert client.post(f"{DS}/branches/main/commits", json=body).status_code == 201


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_path_cannot_be_both_a_file_and_a_folder(client: httpx.Client) -> None:
    assert commit(client, "main", {"n": b"a file", "d/x.dcm": b"x"}).status_code == 201
    for files in ({"n/x": b"under a file"}, {"d": b"over a folder"}, {"m": b"1", "m/y": b"2"}):
        refused = commit(client, "main", files)
        assert refused.status_code == 422, (files, refused.text)
        assert "both a file and a folder" in refused.json()["detail"]
    # Replacing the file by a folder in one commit is fine.
    assert commit(client, "main", {"n": None, "n/x": b"now a folder"}).status_code == 201
    assert commit(client, "main", {"d/x.dcm": None, "d": b"now a file"}).status_code == 201
    # Two branches that each add one half of such a pair do not merge into it.
    assert client.post(f"{DS}/branches", json={"name": "side", "source": "main"}).status_code == 201
    assert commit(client, "main", {"q": b"a file"}).status_code == 201
    assert commit(client, "side", {"q/inner": b"a folder"}).status_code == 201
    merged = client.post(f"{DS}/merges", json={"source": "side", "destination": "main"})
    assert merged.status_code == 422, merged.text
    assert "both a file and a folder" in merged.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_commit_puts_a_working_copy_state_folder_at_any_depth(client: httpx.Client) -> None:
    """Checked out, ``scans/.imagehub/config.json`` would turn ``scans/`` into a working copy
    of whatever server it names, and commands run there would send it the user's token."""
    for path in ("scans/.imagehub/config.json", "a/.ImageHub/x", ".IMAGEHUB/config.json"):
        response = commit(client, "main", {path: b"{}", "scans/ok.dcm": b"ok"})
        assert response.status_code == 422, response.text
        assert "a folder named .imagehub" in response.json()["detail"]
    assert client.get(f"{DS}/refs/main/objects").json()["results"] == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_commit_puts_a_name_longer_than_a_checkout_can_hold(client: httpx.Client) -> None:
    response = commit(client, "main", {"d/" + "x" * 300: b"1", "ok": b"2"})
    assert response.status_code == 422, response.text
    assert "a name over 255 bytes (UTF-8)" in response.json()["detail"]
    assert commit(client, "main", {"d/" + "x" * 255: b"1"}).status_code == 201


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_path_stored_before_the_rules_can_still_be_deleted(
    client: httpx.Client, platform: Platform
) -> None:
    stored = commit(client, "main", {"scans/ok.dcm": b"ok"}).json()
    planted = {"scans/.imagehub/config.json", "d/" + "x" * 300}
    with platform.sessions.begin() as session:  # written by a version that allowed them
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="brain"))
        blob = repo.stat("main", "scans/ok.dcm").blob
        changes = ChangeSet()
        changes.puts.update({path: Entry(path, blob, 2) for path in planted})
        repo.commit("main", changes, author="old", message="before the rules", expected_parent=stored["id"])
    body = {
        "message": "tidy",
        "changes": {"delete": ["scans/.imagehub/config.json"], "delete_prefix": ["d/"]},
    }
    assert client.post(f"{DS}/branches/main/commits", json=body).status_code == 201
    listed = client.get(f"{DS}/refs/main/objects").json()["results"]
    assert [e["path"] for e in listed] == ["scans/ok.dcm"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_copy_restored_after_its_source_turned_private_is_private(
    client: httpx.Client, platform: Platform
) -> None:
    admin = bearer(make_user(platform, "root", admin=True))
    commit(client, "main", {"a": b"a"})
    assert client.patch(f"{DS}/settings", json={"visibility": "public"}).status_code == 200
    body = {"owner": "lab", "name": "copy", "ref": "main"}
    assert client.post(f"{DS}/derive", json=body).json()["visibility"] == "public"
    assert client.delete("/api/v1/datasets/lab/copy").status_code == 204
    with platform.sessions.begin() as session:  # as a source narrowed before copies followed it
        datasets.get(session, owner="lab", name="brain").visibility = "private"
    restored = client.post("/api/v1/datasets/lab/copy/restore", headers=admin)
    assert restored.status_code == 200, restored.text
    assert restored.json()["visibility"] == "private"
