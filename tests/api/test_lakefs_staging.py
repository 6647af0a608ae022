"""What is staged on a branch through the lakeFS API, while other writers move the branch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import lakefs_sdk
from sqlalchemy import update

from imagehub.core.vcs import BlobStore
from imagehub.models.staging import StagedRow
from imagehub.services.maintenance import collect_garbage
from tests.support.lakefs import Lake, branch, commit, make_repository, read, refused, status_of, upload


def pending(client: lakefs_sdk.ApiClient) -> list[tuple[str, str]]:
    return [(d.type, d.path) for d in lakefs_sdk.BranchesApi(client).diff_branch("scans", "main").results]


def side_branch(client: lakefs_sdk.ApiClient, files: dict[str, bytes]) -> None:
    """Branch ``side`` from main with ``files`` committed on it."""
    branch(client, "side")
    for path, data in files.items():
        upload(client, "side", path, data)
    commit(client, "side", "on side")


def test_a_write_that_changes_nothing_stages_nothing_and_cannot_undo_a_merge(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    upload(client, "main", "top.txt", b"top")
    commit(client, "main", "base")
    side_branch(client, {"ghost.txt": b"boo", "top.txt": b"new top"})

    lakefs_sdk.ObjectsApi(client).delete_object("scans", "main", "ghost.txt")  # found nowhere
    upload(client, "main", "top.txt", b"top")  # the bytes main holds already
    assert pending(client) == []
    lakefs_sdk.RefsApi(client).merge_into_branch("scans", "side", "main")

    assert read(client, "main", "ghost.txt") == b"boo"
    assert read(client, "main", "top.txt") == b"new top"
    assert pending(client) == []
    upload(client, "main", "other.txt", b"unrelated")
    made = commit(client, "main", "unrelated").id
    assert (read(client, made, "ghost.txt"), read(client, made, "top.txt")) == (b"boo", b"new top")


def test_staged_changes_lapse_where_a_native_merge_changes_their_path(lake: Lake) -> None:
    """ImageHub's own merge moves the branch without looking at what is staged: a staged
    change stands only while the head holds what it held when the change was staged."""
    client = lake.client()
    make_repository(client)
    upload(client, "main", "p.txt", b"A")
    upload(client, "main", "q.txt", b"Q")
    commit(client, "main", "base")
    side_branch(client, {"p.txt": b"theirs", "r.txt": b"same as staged"})
    overtaken = upload(client, "main", "p.txt", b"staged over A").checksum
    upload(client, "main", "r.txt", b"same as staged")
    lakefs_sdk.ObjectsApi(client).delete_object("scans", "main", "q.txt")

    url = f"{lake.base}/api/v1/datasets/lab/scans/merges"
    merged = httpx.post(url, json={"source": "side", "destination": "main"}, headers=lake.bearer())
    assert merged.status_code == 201
    assert read(client, "main", "p.txt") == b"theirs"  # the committed change wins
    assert pending(client) == [("removed", "q.txt")]  # untouched by the merge: still staged
    upload(client, "side", "r.txt", b"changed again")
    commit(client, "side", "r again")
    assert httpx.post(url, json={"source": "side", "destination": "main"}, headers=lake.bearer()).is_success
    assert read(client, "main", "r.txt") == b"changed again"  # not the staged copy brought back

    made = commit(client, "main", "drop q").id
    assert read(client, made, "p.txt") == b"theirs"
    assert status_of(refused(read, client, made, "q.txt")) == 404
    assert pending(client) == []
    collect_garbage(lake.platform, grace=timedelta(0))
    assert not BlobStore(lake.platform.store).exists(overtaken)  # the lapsed row went with the commit


def test_a_lakefs_merge_drops_what_is_staged_but_changes_nothing(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    upload(client, "main", "p.txt", b"A")
    commit(client, "main", "base")
    side_branch(client, {"p.txt": b"theirs"})
    lapsed = upload(client, "main", "p.txt", b"staged over A").checksum
    url = f"{lake.base}/api/v1/datasets/lab/scans/merges"
    assert httpx.post(url, json={"source": "side", "destination": "main"}, headers=lake.bearer()).is_success
    upload(client, "side", "s.txt", b"more")
    commit(client, "side", "more")

    lakefs_sdk.RefsApi(client).merge_into_branch("scans", "side", "main")
    collect_garbage(lake.platform, grace=timedelta(0))
    assert not BlobStore(lake.platform.store).exists(lapsed)


def test_a_branch_with_at_reads_its_head_without_what_is_staged(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    objects = lakefs_sdk.ObjectsApi(client)
    upload(client, "main", "a/1.txt", b"one")
    commit(client, "main", "base")
    upload(client, "main", "a/1.txt", b"ONE")
    upload(client, "main", "a/2.txt", b"two")

    assert (read(client, "main@", "a/1.txt"), read(client, "main", "a/1.txt")) == (b"one", b"ONE")
    assert status_of(refused(read, client, "main@", "a/2.txt")) == 404
    assert [o.path for o in objects.list_objects("scans", "main@").results] == ["a/1.txt"]
    head = lakefs_sdk.BranchesApi(client).get_branch("scans", "main").commit_id
    assert lakefs_sdk.CommitsApi(client).get_commit("scans", "main@").id == head
    lakefs_sdk.TagsApi(client).create_tag("scans", lakefs_sdk.TagCreation(id="v1", ref="main"))
    for wrong in ("v1@", "main@~1"):
        assert status_of(refused(read, client, wrong, "a/1.txt")) == 400


def test_a_staged_object_is_as_old_as_its_staging_a_committed_one_as_the_commit_read(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    objects = lakefs_sdk.ObjectsApi(client)
    upload(client, "main", "a.txt", b"committed")
    made = commit(client, "main", "a")
    upload(client, "main", "b.txt", b"staged")
    staged_at = datetime(2001, 1, 1, tzinfo=UTC)
    with lake.platform.sessions.begin() as session:
        session.execute(update(StagedRow).values(staged_at=staged_at))

    assert objects.stat_object("scans", "main", "b.txt").mtime == int(staged_at.timestamp())
    assert objects.stat_object("scans", "main", "a.txt").mtime == made.creation_date
    listed = objects.list_objects("scans", "main").results
    assert [(o.path, o.mtime) for o in listed] == [("a.txt", made.creation_date), ("b.txt", 978307200)]
