"""lakeFS operations beyond staging and committing: the server's own endpoints, revert, copy
and merge bases, driven by the lakeFS SDK."""

from __future__ import annotations

import httpx
import lakefs_sdk

from imagehub import __version__
from imagehub.services import audit
from tests.support.lakefs import Lake, branch, commit, make_repository, read, refused, status_of, upload

PURPOSE = "curation of the raw import"


def test_what_clients_ask_of_the_server_first(lake: Lake) -> None:
    client = lake.client()
    lakefs_sdk.HealthCheckApi(client).health_check()
    assert httpx.get(f"{lake.base}/lakefs/lab/api/v1/healthcheck").status_code == 204  # signed in or not
    config = lakefs_sdk.ConfigApi(client).get_config()
    assert config.version_config.version == __version__
    assert (config.storage_config.pre_sign_support, config.storage_config.import_support) == (False, False)
    assert lakefs_sdk.AuthApi(client).get_current_user().user.id == "lab"
    assert httpx.get(f"{lake.base}/lakefs/lab/api/v1/user").status_code == 401


def test_reverts_undo_a_commit_on_a_clean_branch(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    branches = lakefs_sdk.BranchesApi(client)
    upload(client, "main", "a.txt", b"one")
    commit(client, "main", "one")
    upload(client, "main", "a.txt", b"two")
    upload(client, "main", "b.txt", b"b")
    second = commit(client, "main", "two")
    branch(client, "side")
    upload(client, "side", "s.txt", b"s")
    commit(client, "side", "on side")

    base = lakefs_sdk.RefsApi(client).find_merge_base("scans", "side", "main")
    assert (base.base_commit_id, base.destination_commit_id) == (second.id, second.id)
    assert base.source_commit_id == branches.get_branch("scans", "side").commit_id
    upload(client, "main", "dirty.txt", b"uncommitted")
    undo = lakefs_sdk.RevertCreation(ref=second.id, parent_number=0)  # 0: the only parent
    assert status_of(refused(branches.revert_branch, "scans", "main", undo)) == 400
    branches.reset_branch("scans", "main", lakefs_sdk.ResetCreation(type="reset"))
    branches.revert_branch("scans", "main", undo)
    assert read(client, "main", "a.txt") == b"one"
    assert status_of(refused(read, client, "main", "b.txt")) == 404

    merged = lakefs_sdk.RefsApi(client).merge_into_branch("scans", "side", "main").reference
    of_merge = lakefs_sdk.RevertCreation(ref=merged, parent_number=0)
    assert status_of(refused(branches.revert_branch, "scans", "main", of_merge)) == 400  # which parent?
    branches.revert_branch("scans", "main", lakefs_sdk.RevertCreation(ref=merged, parent_number=1))
    assert status_of(refused(read, client, "main", "s.txt")) == 404


def test_copies_stage_an_entry_and_raw_data_stays_in_phi_branches(lake: Lake) -> None:
    client = lake.client()
    client.set_default_header("X-Purpose-Of-Use", PURPOSE)
    make_repository(client)
    objects = lakefs_sdk.ObjectsApi(client)
    original = upload(client, "main", "a.txt", b"a")
    commit(client, "main", "a")
    upload(client, "main", "staged.txt", b"staged")

    def copy(source: str, to: str, ref: str = "main", src_ref: str | None = None) -> lakefs_sdk.ObjectStats:
        creation = lakefs_sdk.ObjectCopyCreation(src_path=source, src_ref=src_ref)
        return objects.copy_object("scans", ref, to, creation)

    assert (copy("a.txt", "copy/a.txt").checksum, read(client, "main", "copy/a.txt")) == (
        original.checksum,
        b"a",
    )
    assert read(client, "main", copy("staged.txt", "copy/staged.txt", src_ref="main").path) == b"staged"
    pending = lakefs_sdk.BranchesApi(client).diff_branch("scans", "main").results
    assert [(d.type, d.path) for d in pending] == [
        ("added", "copy/a.txt"),
        ("added", "copy/staged.txt"),
        ("added", "staged.txt"),
    ]
    assert status_of(refused(copy, "missing.txt", "x.txt")) == 404

    branch(client, "raw")
    branch(client, "raw-2")
    upload(client, "raw", "p.dcm", b"PHI")
    assert status_of(refused(copy, "p.dcm", "leak.dcm", src_ref="raw")) == 403
    with lake.platform.sessions() as session:
        before = len(audit.search(session, action="phi.open", dataset="lab/scans", limit=1000))
    copy("p.dcm", "p.dcm", ref="raw-2", src_ref="raw")
    with lake.platform.sessions() as session:
        opened = audit.search(session, action="phi.open", dataset="lab/scans", limit=1000)[before:]
    assert sorted(event.ref for event in opened) == ["raw", "raw-2"]  # what it read is on record
