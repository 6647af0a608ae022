"""What the lakeFS API cannot honour it refuses (400, saying what), never accepts and ignores."""

from __future__ import annotations

import httpx
import lakefs_sdk

from imagehub.services import datasets
from tests.support.lakefs import Lake, make_repository, refused, status_of, upload


def test_uploads_with_user_metadata_are_refused(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    url = f"{lake.base}/lakefs/lab/api/v1/repositories/scans/branches/main/objects"
    sent = httpx.post(
        url,
        params={"path": "meta.txt"},
        files={"content": ("meta.txt", b"m", "text/plain")},
        headers={"x-lakefs-meta-owner": "rita", **lake.bearer()},
    )
    assert sent.status_code == 400
    assert "user metadata is not supported" in sent.json()["message"]
    assert lakefs_sdk.BranchesApi(client).diff_branch("scans", "main").results == []
    upload(client, "main", "meta.txt", b"m")
    update = lakefs_sdk.UpdateObjectUserMetadata(set={"owner": "rita"})
    objects = lakefs_sdk.ObjectsApi(client)
    assert status_of(refused(objects.update_object_user_metadata, "scans", "main", "meta.txt", update)) == 400


def test_options_it_does_not_honour_are_refused(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    commits, objects, refs = (
        lakefs_sdk.CommitsApi(client),
        lakefs_sdk.ObjectsApi(client),
        lakefs_sdk.RefsApi(client),
    )
    lakefs_sdk.BranchesApi(client).create_branch(
        "scans", lakefs_sdk.BranchCreation(name="side", source="main")
    )
    upload(client, "side", "a.txt", b"a")
    commits.commit("scans", "side", lakefs_sdk.CommitCreation(message="a"))
    for option in ({"allow_empty": True}, {"squash_merge": True}, {"force": True}):
        merge = lakefs_sdk.Merge(**option)
        assert status_of(refused(refs.merge_into_branch, "scans", "side", "main", merge=merge)) == 400
    upload(client, "main", "b.txt", b"b")

    for option in ({"date": 1_000_000_000}, {"date": 0}, {"force": True}):
        dated = refused(commits.commit, "scans", "main", lakefs_sdk.CommitCreation(message="m", **option))
        assert status_of(dated) == 400
        assert next(iter(option)) in str(dated.body)
    for read in (objects.stat_object, objects.get_object):
        assert status_of(refused(read, "scans", "side", "a.txt", presign=True)) == 400
    assert status_of(refused(objects.list_objects, "scans", "side", presign=True)) == 400
    assert [d.path for d in lakefs_sdk.BranchesApi(client).diff_branch("scans", "main").results] == ["b.txt"]
    assert commits.get_commit("scans", "main").message == "Initial commit"


def test_new_repositories_take_lakefs_names_and_others_stay_reachable(lake: Lake) -> None:
    url = f"{lake.base}/lakefs/lab/api/v1/repositories"  # the SDK itself refuses them before sending
    for name in ("Scans", "ct_2024", "ab"):
        made = httpx.post(url, json={"name": name, "storage_namespace": "local://x"}, headers=lake.bearer())
        assert made.status_code == 400
        assert "invalid repository name" in made.json()["message"]
    repositories = lakefs_sdk.RepositoriesApi(lake.client())
    with lake.platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="CT_2024.v1", author="lab")
    assert repositories.get_repository("CT_2024.v1").id == "CT_2024.v1"
