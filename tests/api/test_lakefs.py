"""The lakeFS-compatible API, driven by the real lakeFS Python SDK against a live server."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import lakefs_sdk
from lakefs_sdk.exceptions import ApiException

from imagehub.core.vcs import BlobStore
from imagehub.services import access, audit, datasets
from imagehub.services.maintenance import collect_garbage
from imagehub_api.app import create_app
from tests.support.accounts import make_user
from tests.support.lakefs import Lake, make_repository, read, refused, status_of, upload
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform


def test_stage_commit_branch_diff_merge_and_tag(lake: Lake) -> None:
    client = lake.client()
    made = make_repository(client)
    assert (made.id, made.default_branch) == ("scans", "main")
    repos = lakefs_sdk.RepositoriesApi(client).list_repositories()
    assert [r.id for r in repos.results] == ["scans"]
    objects, commits = lakefs_sdk.ObjectsApi(client), lakefs_sdk.CommitsApi(client)
    branches, refs = lakefs_sdk.BranchesApi(client), lakefs_sdk.RefsApi(client)

    stats = upload(client, "main", "p1/ct/001.dcm", b"slice one")
    assert (stats.path, stats.size_bytes, stats.content_type) == ("p1/ct/001.dcm", 9, "application/dicom")
    upload(client, "main", "p1/ct/002.dcm", b"slice two")
    upload(client, "main", "README.md", b"# scans")
    pending = branches.diff_branch("scans", "main")
    assert [(d.type, d.path) for d in pending.results] == [
        ("added", "README.md"),
        ("added", "p1/ct/001.dcm"),
        ("added", "p1/ct/002.dcm"),
    ]
    assert read(client, "main", "p1/ct/002.dcm") == b"slice two"  # a branch shows what is staged
    folded = objects.list_objects("scans", "main", delimiter="/")
    assert [(o.path, o.path_type) for o in folded.results] == [
        ("README.md", "object"),
        ("p1/", "common_prefix"),
    ]

    first = commits.commit(
        "scans", "main", lakefs_sdk.CommitCreation(message="first scans", metadata={"site": "A"})
    )
    assert first.parents
    assert first.metadata == {"site": "A"}
    assert first.committer == "lab"
    assert branches.diff_branch("scans", "main").results == []
    assert commits.get_commit("scans", first.id).message == "first scans"
    assert [c.id for c in refs.log_commits("scans", "main", amount=1).results] == [first.id]

    assert branches.create_branch("scans", lakefs_sdk.BranchCreation(name="fix", source="main")) == first.id
    upload(client, "fix", "p1/ct/001.dcm", b"slice one, fixed")
    objects.delete_object("scans", "fix", "README.md")
    assert read(client, "main", "p1/ct/001.dcm") == b"slice one"  # staged on fix only
    assert status_of(refused(objects.stat_object, "scans", "fix", "README.md")) == 404
    fixed = commits.commit("scans", "fix", lakefs_sdk.CommitCreation(message="fix slice one"))
    diff = refs.diff_refs("scans", "main", "fix")
    assert [(d.type, d.path, d.size_bytes) for d in diff.results] == [
        ("removed", "README.md", 7),
        ("changed", "p1/ct/001.dcm", 16),
    ]

    merged = refs.merge_into_branch("scans", "fix", "main", merge=lakefs_sdk.Merge(message="take the fix"))
    assert lakefs_sdk.BranchesApi(client).get_branch("scans", "main").commit_id == merged.reference
    assert commits.get_commit("scans", merged.reference).parents == [first.id, fixed.id]
    assert read(client, "main", "p1/ct/001.dcm") == b"slice one, fixed"
    assert read(client, first.id, "p1/ct/001.dcm") == b"slice one"  # an old version by commit id

    tags = lakefs_sdk.TagsApi(client)
    tags.create_tag("scans", lakefs_sdk.TagCreation(id="v1", ref="main"))
    assert tags.get_tag("scans", "v1").commit_id == merged.reference
    assert status_of(refused(tags.create_tag, "scans", lakefs_sdk.TagCreation(id="v1", ref=first.id))) == 409


def test_conflicts_strategies_and_refusals(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    commits, branches = lakefs_sdk.CommitsApi(client), lakefs_sdk.BranchesApi(client)
    refs = lakefs_sdk.RefsApi(client)
    upload(client, "main", "a.dcm", b"base")
    commits.commit("scans", "main", lakefs_sdk.CommitCreation(message="base"))
    branches.create_branch("scans", lakefs_sdk.BranchCreation(name="other", source="main"))
    for branch, data in (("main", b"ours"), ("other", b"theirs")):
        upload(client, branch, "a.dcm", data)
        commits.commit("scans", branch, lakefs_sdk.CommitCreation(message=f"edit on {branch}"))

    assert status_of(refused(refs.merge_into_branch, "scans", "other", "main")) == 409
    upload(client, "main", "b.dcm", b"uncommitted")
    dirty = refused(
        refs.merge_into_branch, "scans", "other", "main", merge=lakefs_sdk.Merge(strategy="source-wins")
    )
    assert status_of(dirty) == 400  # lakeFS's ErrDirtyBranch
    assert "uncommitted" in str(dirty.body)
    branches.reset_branch("scans", "main", lakefs_sdk.ResetCreation(type="object", path="b.dcm"))
    assert branches.diff_branch("scans", "main").results == []
    refs.merge_into_branch("scans", "other", "main", merge=lakefs_sdk.Merge(strategy="source-wins"))
    assert read(client, "main", "a.dcm") == b"theirs"

    # lakeFS's codes, which its SDKs turn into BadRequestException and ForbiddenException
    nothing = refused(commits.commit, "scans", "main", lakefs_sdk.CommitCreation(message="empty"))
    assert status_of(nothing) == 400
    assert "nothing to commit" in str(nothing.body)
    assert status_of(refused(refs.merge_into_branch, "scans", "other", "main")) == 400  # merged already
    assert status_of(refused(refs.merge_into_branch, "scans", "main", "main")) == 400
    assert status_of(refused(upload, client, "main", "../escape", b"x")) == 400
    assert status_of(refused(read, client, "main", "missing.dcm")) == 404
    malformed = httpx.post(
        f"{lake.base}/lakefs/lab/api/v1/repositories/scans/branches",
        json={"name": "x"},
        headers=lake.bearer(),
    )
    assert malformed.status_code == 400
    assert "source" in malformed.json()["message"]
    assert status_of(refused(branches.delete_branch, "scans", "main")) == 403  # the default branch
    with lake.platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        repo.set_protected("main", True)
    assert status_of(refused(upload, client, "main", "c.dcm", b"x")) == 403


def test_access_rules_and_basic_credentials(lake: Lake) -> None:
    make_repository(lake.client())
    rita, wes = lake.client("rita"), lake.client("wes")
    assert lakefs_sdk.RepositoriesApi(rita).list_repositories().results == []
    assert status_of(refused(lakefs_sdk.RepositoriesApi(rita).get_repository, "scans")) == 404
    with lake.platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="scans")
        access.grant(session, dataset=dataset, role="read", actor="lab", username="rita")
    assert [r.id for r in lakefs_sdk.RepositoriesApi(rita).list_repositories().results] == ["scans"]
    assert status_of(refused(upload, rita, "main", "x.dcm", b"x")) == 403
    assert (
        status_of(
            refused(
                lakefs_sdk.RepositoriesApi(wes).create_repository,
                lakefs_sdk.RepositoryCreation(name="theirs", storage_namespace="local://x"),
            )
        )
        == 403
    )

    basic = lake.client("lab", basic=True)
    upload(basic, "main", "by-basic.dcm", b"ok")
    assert read(basic, "main", "by-basic.dcm") == b"ok"
    wrong = lakefs_sdk.Configuration(host=f"{lake.base}/lakefs/lab/api/v1", username="lab", password="nope")
    denied = refused(lakefs_sdk.BranchesApi(lakefs_sdk.ApiClient(wrong)).list_branches, "scans")
    assert status_of(denied) == 401
    assert "message" in str(denied.body)
    with lake.platform.sessions() as session:
        downloads = audit.search(session, action="object.download", dataset="lab/scans")
    assert downloads
    assert downloads[-1].actor == "lab"


def test_staged_objects_survive_gc_until_reset(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    stats = upload(client, "main", "kept.dcm", b"staged for a long time")
    upload(client, "main", "dropped.dcm", b"staged, then reset")
    dropped = lakefs_sdk.ObjectsApi(client).stat_object("scans", "main", "dropped.dcm").checksum
    branches = lakefs_sdk.BranchesApi(client)
    branches.reset_branch("scans", "main", lakefs_sdk.ResetCreation(type="common_prefix", path="dropped"))

    report = collect_garbage(lake.platform, grace=timedelta(0))
    assert report.deleted_blobs == 1
    store = BlobStore(lake.platform.store)
    assert store.exists(stats.checksum)
    assert not store.exists(dropped)
    made = lakefs_sdk.CommitsApi(client).commit(
        "scans", "main", lakefs_sdk.CommitCreation(message="late commit")
    )
    assert read(client, made.id, "kept.dcm") == b"staged for a long time"

    branches.create_branch("scans", lakefs_sdk.BranchCreation(name="scratch", source="main"))
    upload(client, "scratch", "only-staged.dcm", b"goes with the branch")
    branches.delete_branch("scans", "scratch")
    branches.create_branch("scans", lakefs_sdk.BranchCreation(name="scratch", source="main"))
    assert branches.diff_branch("scans", "scratch").results == []


def test_listings_fold_folders_page_by_page_and_paths_take_no_noncharacters(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    for path in ("a/1.dcm", "a/2.dcm", "b/x/1.dcm", "c.dcm"):
        upload(client, "main", path, path.encode())
    objects = lakefs_sdk.ObjectsApi(client)
    seen, after = [], ""
    while True:
        page = objects.list_objects("scans", "main", delimiter="/", amount=1, after=after)
        seen += [o.path for o in page.results]
        if not page.pagination.has_more:
            break
        after = page.pagination.next_offset
    assert seen == ["a/", "b/", "c.dcm"]
    inside = objects.list_objects("scans", "main", prefix="a/", delimiter="/", after="a/")
    assert [o.path for o in inside.results] == ["a/1.dcm", "a/2.dcm"]
    assert status_of(refused(upload, client, "main", "a/\U0010ffffz", b"x")) == 400
    planted = refused(upload, client, "main", "a/.ImageHub/config.json", b"{}")
    assert status_of(planted) == 400
    assert "a folder named .imagehub" in str(planted.body)


def test_uploads_refuse_clashes_and_honour_conditions(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    objects = lakefs_sdk.ObjectsApi(client)
    upload(client, "main", "n/x.dcm", b"inside n")
    assert status_of(refused(upload, client, "main", "n", b"a file where a folder is")) == 409
    assert status_of(refused(upload, client, "main", "n/x.dcm/y", b"inside a file")) == 409

    def put(**conditions: str) -> lakefs_sdk.ObjectStats:
        with tempfile.NamedTemporaryFile() as file:
            file.write(b"again")
            file.flush()
            return objects.upload_object("scans", "main", "n/x.dcm", content=file.name, **conditions)

    assert status_of(refused(put, if_none_match="*")) == 412
    assert status_of(refused(put, if_match='"0"')) == 412
    etag = objects.stat_object("scans", "main", "n/x.dcm").checksum
    assert put(if_match=etag).size_bytes == 5
    made = lakefs_sdk.CommitsApi(client).commit("scans", "main", lakefs_sdk.CommitCreation(message="n"))
    assert read(client, made.id, "n/x.dcm") == b"again"
    url = f"{lake.base}/lakefs/lab/api/v1/repositories/scans/refs/main/objects"
    current = objects.stat_object("scans", "main", "n/x.dcm").checksum
    for tag, status in ((current, 304), (etag, 200)):
        headers = {"If-None-Match": f'"{tag}"', **lake.bearer()}
        assert httpx.get(url, params={"path": "n/x.dcm"}, headers=headers).status_code == status
    ranged = httpx.head(url, params={"path": "n/x.dcm"}, headers={"Range": "bytes=1-2", **lake.bearer()})
    assert (ranged.status_code, ranged.headers["content-length"]) == (206, "2")
    assert ranged.headers["content-range"] == "bytes 1-2/5"


def test_diffs_are_three_dot_by_default_and_logs_filter_as_lakefs_does(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    commits, refs = lakefs_sdk.CommitsApi(client), lakefs_sdk.RefsApi(client)
    lakefs_sdk.BranchesApi(client).create_branch(
        "scans", lakefs_sdk.BranchCreation(name="feat", source="main")
    )
    upload(client, "main", "main-only.dcm", b"m")
    commits.commit("scans", "main", lakefs_sdk.CommitCreation(message="on main"))
    upload(client, "feat", "p1/ct", b"f")
    first = commits.commit("scans", "feat", lakefs_sdk.CommitCreation(message="p1/ct"))
    upload(client, "feat", "p10/y", b"g")
    second = commits.commit("scans", "feat", lakefs_sdk.CommitCreation(message="p10/y"))
    assert [(d.type, d.path) for d in refs.diff_refs("scans", "main", "feat").results] == [
        ("added", "p1/ct"),
        ("added", "p10/y"),
    ]
    two_dot = refs.diff_refs("scans", "main", "feat", type="two_dot")
    assert ("removed", "main-only.dcm") in [(d.type, d.path) for d in two_dot.results]
    ids = lambda **kw: [c.id for c in refs.log_commits("scans", "feat", **kw).results]  # noqa: E731
    assert ids(prefixes=["p1"]) == [second.id, first.id]  # a string prefix, not a folder
    assert ids(objects=["p1/ct"]) == [first.id]
    assert ids(objects=["p1/c"]) == []
    assert status_of(refused(refs.log_commits, "scans", "feat", stop_at="main")) == 400


def test_upload_limit_holds_for_multipart_uploads(tmp_path: Path, database_url: str) -> None:
    with migrated_platform(tmp_path / "var", database_url, max_upload_bytes=1000) as platform:
        token = make_user(platform, "lab")
        with live_server(create_app(platform)) as base:
            small = Lake(base, platform, {"lab": token})
            make_repository(small.client())
            assert status_of(refused(upload, small.client(), "main", "big.dcm", b"x" * 5000)) == 413
            assert upload(small.client(), "main", "ok.dcm", b"x" * 500).size_bytes == 500


def test_commits_racing_on_one_branch_are_all_made(lake: Lake) -> None:
    make_repository(lake.client())

    def stage_and_commit(n: int) -> int:
        client = lake.client()
        upload(client, "main", f"racer-{n}.dcm", str(n).encode())
        try:
            lakefs_sdk.CommitsApi(client).commit(
                "scans", "main", lakefs_sdk.CommitCreation(message=f"racer {n}")
            )
        except ApiException as exc:
            return int(exc.status)
        return 201

    racers = 12
    with ThreadPoolExecutor(racers) as pool:
        answers = list(pool.map(stage_and_commit, range(racers)))
    # Neither 409 nor 503: commits of one branch take turns, each on the head the last one
    # left, as in lakeFS; racing instead, retried commits deadlocked on PostgreSQL.
    assert set(answers) <= {201, 400}  # 400: another racer's commit took this one's file too
    listed = lakefs_sdk.ObjectsApi(lake.client()).list_objects("scans", "main", amount=100)
    assert sorted(o.path for o in listed.results) == sorted(f"racer-{n}.dcm" for n in range(racers))
    assert lakefs_sdk.BranchesApi(lake.client()).diff_branch("scans", "main").results == []


def test_of_racing_uploads_only_if_absent_one_is_made(lake: Lake) -> None:
    make_repository(lake.client())
    objects = lakefs_sdk.ObjectsApi(lake.client())

    def create(n: int) -> int:
        with tempfile.NamedTemporaryFile() as file:
            file.write(f"writer {n}".encode())
            file.flush()
            try:
                objects.upload_object("scans", "main", "once.dcm", content=file.name, if_none_match="*")
            except ApiException as exc:
                return int(exc.status)
        return 201

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(8)))
    assert sorted(answers) == [201] + [412] * 7
    winner = answers.index(201)
    assert read(lake.client(), "main", "once.dcm") == f"writer {winner}".encode()


def test_errors_lakefs_clients_read_carry_a_message(lake: Lake) -> None:
    missing = httpx.get(
        f"{lake.base}/lakefs/lab/api/v1/setup_lakefs",
        headers={"Authorization": f"Bearer {lake.tokens['lab']}"},
    )
    assert missing.status_code == 404
    assert "message" in missing.json()


def test_diffs_fold_folders_with_a_delimiter(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    branches, refs = lakefs_sdk.BranchesApi(client), lakefs_sdk.RefsApi(client)
    for path in ("a/1.dcm", "a/b/2.dcm", "c.dcm", "d/3.dcm"):
        upload(client, "main", path, path.encode())

    def every_page(diff: Callable[[str], lakefs_sdk.DiffList]) -> list[tuple[str, str, str]]:
        rows, after = [], ""
        while True:
            page = diff(after)
            rows += [(d.type, d.path, d.path_type) for d in page.results]
            if not page.pagination.has_more:
                return rows
            after = page.pagination.next_offset

    expected = [
        ("prefix_changed", "a/", "common_prefix"),
        ("added", "c.dcm", "object"),
        ("prefix_changed", "d/", "common_prefix"),
    ]
    assert (
        every_page(lambda after: branches.diff_branch("scans", "main", delimiter="/", amount=1, after=after))
        == expected
    )
    inside = branches.diff_branch("scans", "main", prefix="a/", delimiter="/")
    assert [(d.path, d.path_type) for d in inside.results] == [
        ("a/1.dcm", "object"),
        ("a/b/", "common_prefix"),
    ]
    made = lakefs_sdk.CommitsApi(client).commit("scans", "main", lakefs_sdk.CommitCreation(message="all"))
    first = made.parents[0]
    assert (
        every_page(lambda after: refs.diff_refs("scans", first, "main", delimiter="/", amount=1, after=after))
        == expected
    )
